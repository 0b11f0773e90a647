"""The specification's Skill Interface Standard, and what every skill shares.

A skill is an async function taking one validated `SkillInput` and returning a `SkillOutput`
with `success` and `error`. Implementations are written as

    @skill("skill_fetch_trends")
    async def fetch_trends(data: FetchTrendsInput, ctx: SkillContext) -> FetchTrendsOutput: ...

and raise `core.errors` exceptions when they fail. The decorator returns a `SkillSpec`;
callers run it with its input model and get its output type back:

    output = await invoke(fetch_trends, FetchTrendsInput(...), ctx)   # FetchTrendsOutput

`invoke` retries transient errors by `core.retry.RetryPolicy` (at most 3 retries, honouring
Retry-After), and turns every failure into the output's `error` in the specification's format.
`invoke_json` does the same for untyped JSON input (the CLI, MCP), validating it first.

Rules for output models: every field except `success` and `error` has a default, so a failed
call can be represented. Inputs evolve by adding optional fields only.
Skills know nothing of Kafka; they get their resources from the `SkillContext` built by the
caller's composition root.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from core.errors import (
    ErrorCategory,
    ErrorInfo,
    OperationError,
    TransientError,
    UnknownError,
    ValidationError,
)
from skills.context import SkillContext

log = logging.getLogger("chimera.skills")


class SkillInput(BaseModel):
    """Base class for skill inputs: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")


class SkillOutput(BaseModel):
    """Base class for skill outputs."""

    success: bool
    error: ErrorInfo | None = None


InT = TypeVar("InT", bound=SkillInput)
OutT = TypeVar("OutT", bound=SkillOutput)


@dataclass(frozen=True)
class SkillCall:
    """One finished call: what went in, what came out, how long and how many attempts.

    `input` is the validated input model, or the raw JSON when it did not validate."""

    name: str
    input: SkillInput | dict[str, Any]
    output: SkillOutput
    attempts: int
    duration_s: float


Impl = Callable[[InT, SkillContext], Awaitable[OutT]]


@dataclass(frozen=True)
class SkillSpec(Generic[InT, OutT]):
    """A registered skill: its name, models and implementation."""

    name: str
    description: str
    input_model: type[InT]
    output_model: type[OutT]
    impl: Impl[InT, OutT]

    def schemas(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_model.model_json_schema(),
            "output_schema": self.output_model.model_json_schema(),
        }


REGISTRY: dict[str, SkillSpec[Any, Any]] = {}


def skill(name: str) -> Callable[[Impl[InT, OutT]], SkillSpec[InT, OutT]]:
    """Register an implementation under `name`; models come from its annotations."""

    def register(impl: Impl[InT, OutT]) -> SkillSpec[InT, OutT]:
        hints = get_type_hints(impl)
        params = list(inspect.signature(impl).parameters)
        input_model = hints[params[0]]
        output_model = hints["return"]
        if name in REGISTRY:
            raise ValueError(f"skill {name!r} registered twice")
        doc = inspect.getdoc(impl) or ""
        spec = SkillSpec(name, doc.split("\n\n")[0], input_model, output_model, impl)
        REGISTRY[name] = spec
        return spec

    return register


def failure(output_model: type[OutT], error: ErrorInfo) -> OutT:
    return output_model(success=False, error=error)


async def invoke_json(spec: SkillSpec[InT, OutT], data: dict[str, Any], ctx: SkillContext) -> OutT:
    """Validate JSON `data` as the skill's input, then `invoke`; invalid input is a failed
    output with code INVALID_INPUT (and is observed like any call)."""
    began = time.monotonic()
    try:
        parsed = spec.input_model.model_validate(data)
    except PydanticValidationError as exc:
        output = failure(
            spec.output_model,
            ValidationError(
                f"invalid input for {spec.name}: {exc.error_count()} problem(s)",
                code="INVALID_INPUT",
                # Through JSON: error contexts may hold exception objects, which are not data.
                details={"errors": json.loads(exc.json(include_url=False, include_input=False))},
            ).info,
        )
        await _notify(ctx, SkillCall(spec.name, data, output, 0, time.monotonic() - began))
        return output
    return await invoke(spec, parsed, ctx)


async def invoke(spec: SkillSpec[InT, OutT], data: InT, ctx: SkillContext) -> OutT:
    """Run a skill by the standard: retry transient errors, never raise for errors."""
    began = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            output = await spec.impl(data, ctx)
            break
        except TransientError as exc:
            plan = ctx.retry.plan(attempts, retryable=True, retry_after=exc.retry_after)
            if plan.action == "give_up":
                exc.details.setdefault("attempts", attempts)
                output = failure(spec.output_model, exc.info)
                break
            log.warning(
                "%s: transient error %s, retry %d in %.1fs",
                spec.name,
                exc.code,
                attempts,
                plan.delay,
            )
            await ctx.sleep(plan.delay)
        except OperationError as exc:
            if exc.category is ErrorCategory.UNKNOWN:
                log.exception("%s failed unexpectedly", spec.name)
            else:
                log.warning("%s failed (%s): %s", spec.name, exc.code, exc.message)
            output = failure(spec.output_model, exc.info)
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed unexpectedly", spec.name)
            output = failure(
                spec.output_model,
                UnknownError(
                    f"{type(exc).__name__}: {exc}",
                    code="UNEXPECTED_ERROR",
                    details={"exception": type(exc).__name__},
                ).info,
            )
            break
    await _notify(ctx, SkillCall(spec.name, data, output, attempts, time.monotonic() - began))
    return output


async def _notify(ctx: SkillContext, call: SkillCall) -> None:
    for observer in ctx.observers:
        await observer(call)
