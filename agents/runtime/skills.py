"""The agent's skills: a typed runner over one `SkillContext`, and the audit of every call.

    output = await rt.skills(fetch_trends, FetchTrendsInput(platforms=["feed"]))

`skills.traced(correlation_id)` runs calls in the trace of a workflow, for calls made outside
the handling of one of its events (a due-loop), so their spans and audit events join it.
Every call, traced or not, is observed by `SkillAuditor`: an audit event (PII removed by
`Tx.audit`), a latency sample, an error count by category, and a span back-dated to its start.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.trace import Status, StatusCode

from agents.runtime.metrics import AgentMetrics
from agents.runtime.store import Tx
from core.observability import tracing
from skills.base import SkillCall, SkillInput, SkillOutput, SkillSpec, invoke, invoke_json
from skills.context import Progress, SkillContext

log = logging.getLogger("chimera.agents.progress")

InT = TypeVar("InT", bound=SkillInput)
OutT = TypeVar("OutT", bound=SkillOutput)


class AgentSkills:
    """Runs skills with the agent's context: `await skills(spec, input) -> spec's output`."""

    def __init__(self, ctx: SkillContext, correlation_id: uuid.UUID | None = None) -> None:
        self.ctx = ctx
        self._correlation_id = correlation_id

    async def __call__(self, spec: SkillSpec[InT, OutT], data: InT) -> OutT:
        if self._correlation_id is None:
            return await invoke(spec, data, self.ctx)
        token = otel_context.attach(tracing.resume_context(self._correlation_id))
        try:
            return await invoke(spec, data, self.ctx)
        finally:
            otel_context.detach(token)

    async def run_json(self, spec: SkillSpec[Any, OutT], data: dict[str, Any]) -> OutT:
        """Run a skill on untyped JSON input (validated first)."""
        return await invoke_json(spec, data, self.ctx)

    def traced(self, correlation_id: uuid.UUID | None) -> AgentSkills:
        """The same skills, each call run in the trace of workflow `correlation_id`."""
        return AgentSkills(self.ctx, correlation_id)


class SkillAuditor:
    """The skill observer of one agent (see the module docstring)."""

    def __init__(
        self,
        agent: str,
        metrics: AgentMetrics,
        transaction: Callable[[], AbstractAsyncContextManager[Tx]],
    ) -> None:
        self.agent = agent
        self.metrics = metrics
        self.transaction = transaction

    async def __call__(self, call: SkillCall) -> None:
        output = call.output
        outcome: Literal["success", "failure"] = "success" if output.success else "failure"
        self.metrics.skill_duration.labels(self.agent, call.name, outcome).observe(call.duration_s)
        error = output.error
        if not output.success:
            category = error.category.value if error is not None else "unknown"
            self.metrics.skill_errors.labels(self.agent, call.name, category).inc()
        span = tracing.tracer().start_span(
            f"skill {call.name}",
            start_time=time.time_ns() - int(call.duration_s * 1e9),
            attributes={
                "chimera.agent": self.agent,
                "chimera.skill": call.name,
                "chimera.skill.attempts": call.attempts,
            },
        )
        if error is not None and not output.success:
            span.set_status(Status(StatusCode.ERROR, f"{error.code}: {error.message}"[:500]))
        span.end()
        async with self.transaction() as tx:
            await tx.audit(
                f"skill:{call.name}",
                skill_name=call.name,
                status=outcome,
                input_data=(
                    call.input.model_dump(mode="json")
                    if isinstance(call.input, SkillInput)
                    else call.input
                ),
                output_data={
                    "output": output.model_dump(mode="json"),
                    "attempts": call.attempts,
                    "duration_s": round(call.duration_s, 3),
                },
            )


class ProgressReporter:
    """The agent's progress sink: the current stage and its fraction as metrics
    (`chimera_stage_active`, `chimera_stage_progress_ratio`), and a log line (fields `stage`,
    `percent`, `detail`) when a stage starts, at every tenth, and when it ends. Safe to call
    from worker threads."""

    def __init__(self, agent: str, metrics: AgentMetrics) -> None:
        self.agent = agent
        self.metrics = metrics
        self._stage: str | None = None
        self._tenth = -1

    def __call__(self, progress: Progress) -> None:
        if progress.stage != self._stage:
            if self._stage is not None:
                self.metrics.stage_active.labels(self.agent, self._stage).set(0)
            self._stage, self._tenth = progress.stage, -1
            self.metrics.stage_active.labels(self.agent, progress.stage).set(1)
        self.metrics.stage_progress.labels(self.agent, progress.stage).set(progress.fraction)
        tenth = int(progress.fraction * 10)
        if tenth != self._tenth:
            self._tenth = tenth
            percent = round(progress.fraction * 100)
            log.info(
                "%s: %s %d%% %s",
                self.agent,
                progress.stage,
                percent,
                progress.detail,
                extra={"stage": progress.stage, "percent": percent, "detail": progress.detail},
            )
