"""An agent's resources: opened in its lifespan, closed in the order that loses nothing.

Open (`open_resources`): the schema must be at the newest revision, the registry's topics
exist, then the database pool, the relay's producer (aiokafka clients bind to the running
loop, so never at import time), the outbox relay and the skills' context.

Start (`start_tasks`): the relay, the unpark loop (when the agent consumes) and the agent's
own loops, as tasks that readiness watches.

Close (`Resources.close`): the relay finishes the batch in hand (cancelling it could re-send
rows); the loops are cancelled (their work is claimed in the database and resumed by the next
process); the relay sends what is committed but unsent; then the clients close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from agents.runtime.parking import unpark_loop
from agents.runtime.relay import OutboxRelay
from agents.runtime.skills import AgentSkills, ProgressReporter, SkillAuditor
from agents.runtime.topics import ensure_topics
from core.db import create_pool, require_schema
from core.kafka import make_producer
from core.observability import tracing
from core.retry import RetryPolicy
from skills import load_all as load_skills
from skills.context import SkillContext, SkillPaths
from skills.ratelimit import PgRateLimiter
from skills.settings import SkillSettings
from skills.trends.velocity import PgTrendSnapshots

if TYPE_CHECKING:
    from agents.runtime.agent import AgentRuntime

log = logging.getLogger("chimera.agent")
RELAY_STOP_TIMEOUT_S = 10.0  # a relay batch is one round of sends and one UPDATE


def configure_tracing(runtime: AgentRuntime) -> None:
    tracing.configure_tracing(
        runtime.observability.otel_exporter, service_name=f"chimera-{runtime.name}"
    )


@dataclass
class Resources:
    """What a started agent holds; `close` releases it."""

    agent: str
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay
    http: httpx.AsyncClient
    skills: AgentSkills

    async def close(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        """Stop the tasks and close the clients (see the module docstring for the order)."""
        began = time.monotonic()
        self.relay.request_stop()
        relay = tasks.get("relay")
        if relay is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(relay), RELAY_STOP_TIMEOUT_S)
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.relay.drain()
        await self.skills.ctx.aclose()  # both HTTP clients (`http` is the platform one)
        await self.producer.stop()
        await self.pool.close()
        log.info(
            "%s: stopped; relay drained and clients closed in %.1fs",
            self.agent,
            time.monotonic() - began,
        )


def freeze_startup_objects() -> None:
    """Collect the start-up garbage, then move every object alive now (modules, the app, its
    clients: they live as long as the process) out of the collector's reach (`gc.freeze`).
    Full collections then scan only what batches allocate: the audit sink spent as much CPU
    in pydantic's validation as a bare loop did only once its heap was frozen. For agent
    processes (`chimera agent`), called once they have started."""
    gc.collect()
    gc.freeze()


def skill_retry(runtime: AgentRuntime) -> RetryPolicy:
    """Skills run inside handlers: they may not wait inline for longer than a fraction of the
    consumer's poll interval; a longer Retry-After is returned to the caller to schedule."""
    return RetryPolicy(max_retry_after=min(300.0, runtime.max_poll_interval_s / 10))


async def open_resources(runtime: AgentRuntime) -> Resources:
    """Open the agent's resources; on failure, close what was opened and raise."""
    settings = runtime.settings
    await require_schema(settings)
    await ensure_topics(settings)
    pool = await create_pool(settings)
    producer: AIOKafkaProducer | None = None
    try:
        producer = make_producer(settings, client_id=f"chimera-{runtime.name}-relay")
        await producer.start()
        relayed = runtime.ops.metrics.relayed.labels(runtime.name)
        relay = OutboxRelay(
            pool,
            producer,
            runtime.name,
            on_sent=relayed.inc,
            retention_hours=settings.outbox_retention_hours,
        )
        load_skills()  # every skill module registers itself on import
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=False)
        auditor = SkillAuditor(runtime.name, runtime.ops.metrics, runtime.transaction)
        tokens = await runtime.open_tokens(pool) if runtime.open_tokens is not None else None
        ctx = SkillContext(
            http=http,
            paths=SkillPaths.of(settings),
            settings=SkillSettings.from_environment(),
            limiter=PgRateLimiter(pool),
            snapshots=PgTrendSnapshots(pool),
            retry=skill_retry(runtime),
            observers=[auditor],
            progress=ProgressReporter(runtime.name, runtime.ops.metrics),
            tokens=tokens,
        )
        return Resources(runtime.name, pool, producer, relay, http, AgentSkills(ctx))
    except BaseException:
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
        await pool.close()
        raise


def start_tasks(runtime: AgentRuntime, resources: Resources) -> dict[str, asyncio.Task[None]]:
    """The relay, the unpark loop and the agent's loops, as named tasks."""
    name = runtime.name
    tasks = {"relay": asyncio.create_task(resources.relay.run(), name=f"{name}-relay")}
    if runtime.processors:
        tasks["unpark"] = asyncio.create_task(
            unpark_loop(runtime.processors, resources.pool), name=f"{name}-unpark"
        )
    for loop in runtime.loops:
        tasks[loop.name] = asyncio.create_task(loop.run(runtime), name=f"{name}-{loop.name}")
    return tasks
