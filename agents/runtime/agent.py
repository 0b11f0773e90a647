"""The composition root every agent shares: one FastStream app per agent.

`AgentRuntime` builds (in FastStream's lifespan, never at import time) the database pool, the
relay's producer and the outbox relay, creates the topics, binds the skills, starts the
agent's background loops and its HTTP endpoint (/metrics, /health/live, /health/ready), and
registers each `Subscription` as a batch subscriber with manual acknowledgement (never
FastStream's default ACK_FIRST).

Shutdown (SIGTERM/SIGINT, handled by FastStream): the subscriber stops polling, the batch in
hand gets up to `CHIMERA_SHUTDOWN_TIMEOUT_S` to finish and be committed; past that it is
cancelled, its transaction rolls back and nothing of it is committed, so the next consumer
of its partitions gets it again (the inbox drops what did commit). Then the relay sends what
is committed but unsent, and the clients close. FastStream 0.7.8 does not ack a cancelled
message (the fix of PR 3010) and, with AckPolicy.MANUAL, has auto-commit off.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import KafkaAckableMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import context as otel_context
from opentelemetry.trace import Status, StatusCode

from agents.runtime.consumer import BatchProcessor, InfrastructureDown, Subscription
from agents.runtime.kafka import ensure_topics, make_broker, make_producer
from agents.runtime.ops import Operations
from agents.runtime.relay import OutboxRelay
from agents.runtime.store import Tx, transaction
from chimera.db import current_revision, head_revision
from chimera.errors import ConfigError
from chimera.observability import tracing
from chimera.observability.logs import agent_var
from chimera.observability.settings import ObservabilitySettings
from chimera.settings import Settings
from events import Topics
from skills import load_all as load_skills
from skills import skill_settings
from skills.base import BoundSkills, SkillCall, SkillContext
from skills.ratelimit import PgRateLimiter

log = logging.getLogger("chimera.agent")

Background = Callable[["AgentRuntime"], Coroutine[Any, Any, None]]
RELAY_STOP_TIMEOUT_S = 10.0  # a relay batch is one round of sends and one UPDATE


async def _raw_parser(record: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser, but tolerant of non-UTF-8 headers (a poison message must reach
    our handler to be dead-lettered, not crash the parser)."""
    try:
        return await original(record)
    except UnicodeDecodeError:
        records = record if isinstance(record, tuple) else (record,)
        sanitized = tuple(
            dataclasses.replace(r, headers=[(k, v.decode(errors="replace").encode())
                                            for k, v in r.headers])
            for r in records
        )
        return await original(sanitized if isinstance(record, tuple) else sanitized[0])


async def _raw_decoder(message: Any) -> Any:
    """Hand the raw bytes to the handler: decoding is ours (strict, with dead letters)."""
    return message.body


class _TracedSkills:
    """See `AgentRuntime.traced`."""

    def __init__(self, skills: BoundSkills, correlation_id: uuid.UUID | None) -> None:
        self._skills = skills
        self._correlation_id = correlation_id

    def __getattr__(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        call = getattr(self._skills, name)
        correlation_id = self._correlation_id

        async def traced(data: Any) -> Any:
            if correlation_id is None:
                return await call(data)
            token = otel_context.attach(tracing.resume_context(correlation_id))
            try:
                return await call(data)
            finally:
                otel_context.detach(token)

        return traced


class AgentRuntime:
    """One agent process: its name, settings, subscriptions and background loops."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        subscriptions: list[Subscription],
        background: list[Background] | None = None,
        *,
        retry_base: float = 0.5,
        max_poll_interval_ms: int = 5 * 60 * 1000,
        observability: ObservabilitySettings | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.observability = observability or ObservabilitySettings()
        self.topics = Topics(settings.topic_prefix)
        self.group = f"{settings.topic_prefix}.{name}"
        self.subscriptions = subscriptions
        self.background = background or []
        self.settings_retry_base = retry_base
        self.ops = Operations(self, self.observability)
        self.ops.metrics.redeliveries.labels(name)
        self.ops.metrics.relayed.labels(name)
        self.broker: KafkaBroker = make_broker(
            settings, client_id=f"chimera-{name}",
            graceful_timeout=self.observability.shutdown_timeout_s,
            middlewares=[KafkaPrometheusMiddleware(registry=self.ops.metrics.registry,
                                                   app_name=f"chimera-{name}")])
        from chimera.asyncapi import specification

        # `faststream docs serve ... --factory` shows the same document as docs/asyncapi/.
        self.app = FastStream(self.broker, lifespan=self._lifespan, logger=log,
                              specification=specification(self))
        self.app.on_shutdown(self._on_shutdown)
        self.ready = asyncio.Event()
        # The FastStream subscriber (None without subscriptions) and the agent's own tasks
        # (relay, background loops), watched by /health/ready.
        self.subscriber: Any = None
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._pool: asyncpg.Pool | None = None
        self._relay: OutboxRelay | None = None
        self._skills: BoundSkills | None = None
        self._producer: AIOKafkaProducer | None = None
        self._processors: list[BatchProcessor] = []
        if subscriptions:
            self._register(max_poll_interval_ms)

    # --- resources (valid between lifespan start and stop) -----------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the agent is not started"
        return self._pool

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "the agent is not started"
        return self._producer

    @property
    def relay(self) -> OutboxRelay:
        assert self._relay is not None, "the agent is not started"
        return self._relay

    @property
    def skills(self) -> BoundSkills:
        assert self._skills is not None, "the agent is not started"
        return self._skills

    def traced(self, correlation_id: uuid.UUID | None) -> _TracedSkills:
        """`skills`, but each call runs in the trace of workflow `correlation_id`: for skill
        calls outside the handling of an event (a due-loop), so that the call's span and
        audit event join the workflow's trace."""
        return _TracedSkills(self.skills, correlation_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with transaction(self.pool, self.name, self.topics) as tx:
            yield tx
        if tx.emitted:
            self.relay.wake()

    async def seen(self, consumer: str, event_id: uuid.UUID) -> bool:
        return bool(await self.pool.fetchval(
            "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event_id))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AgentRuntime]:
        """Run the agent in this event loop (tests, benchmarks): lifespan, then the broker."""
        async with self._lifespan():
            await self.broker.start()
            try:
                yield self
            finally:
                await self._on_shutdown()
                await self.broker.stop()

    @property
    def http_port(self) -> int | None:
        """The port of /metrics and /health/* (known once started)."""
        return self.ops.port

    async def _on_shutdown(self) -> None:
        """First step of a stop: readiness goes 503 while in-flight work finishes."""
        agent_var.set(self.name)  # several agents may share this task in tests
        self.ops.stopping = True
        log.info("%s: stopping: no new batches; %d in flight get up to %.0fs", self.name,
                 self.ops.in_flight, self.observability.shutdown_timeout_s)

    def stats(self) -> dict[str, dict[str, int]]:
        return {p.sub.name: dict(p.sub.stats) for p in self._processors}

    # --- wiring ----------------------------------------------------------------------------
    def _register(self, max_poll_interval_ms: int) -> None:
        """One batch subscriber (one consumer, one group) for all of the agent's topics."""
        by_topic = {}
        for sub in self.subscriptions:
            processor = BatchProcessor(self, sub, self.group, self.topics)
            self._processors.append(processor)
            by_topic[sub.topic] = processor

        subscriber = self.broker.subscriber(
            *by_topic,
            group_id=self.group,
            batch=True,
            max_records=min(s.max_records for s in self.subscriptions),
            # FastStream sleeps this long after an empty poll: it bounds idle latency.
            batch_timeout_ms=10,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_poll_interval_ms=max_poll_interval_ms,
            # Big batches amortise each batch's transaction and commit.
            max_partition_fetch_bytes=8 * 1024 * 1024,
            parser=_raw_parser,
            decoder=_raw_decoder,
            # Documented by chimera.asyncapi with the event models instead of raw bytes.
            include_in_schema=False,
        )
        # Heartbeat: every poll of the consume loop (idle polls included) is recorded, so
        # readiness can tell a live loop from a dead or stuck one.
        poll = subscriber.get_msg

        async def get_msg(consumer: Any) -> Any:
            try:
                return await poll(consumer)
            finally:
                self.ops.polled()

        subscriber.get_msg = get_msg  # type: ignore[method-assign]
        self.subscriber = subscriber

        async def consume(body: list[bytes], message: KafkaMessage) -> None:
            del body  # the raw records below carry bytes, key, headers and offsets
            assert isinstance(message, KafkaAckableMessage)
            agent_var.set(self.name)
            records = message.raw_message
            records = records if isinstance(records, tuple) else (records,)
            groups: dict[str, list[Any]] = {}
            for record in records:
                groups.setdefault(record.topic, []).append(record)
            self.ops.batch_started()
            try:
                for topic, batch in groups.items():
                    await by_topic[topic].process(tuple(batch))
            except InfrastructureDown as exc:
                log.warning("%s: %s; will redeliver the batch", self.name, exc)
                self.ops.metrics.redeliveries.labels(self.name).inc()
                await asyncio.sleep(2.0)
                await message.nack()
                return
            finally:
                self.ops.batch_finished()
            await message.ack()

        subscriber(consume)

    async def _observe_skill(self, call: SkillCall) -> None:
        """Every skill call becomes an audit event (PII removed by Tx.audit), a latency sample,
        an error count by category when it failed, and a span (back-dated to its start)."""
        outcome = "success" if call.output.success else "failure"
        self.ops.metrics.skill_duration.labels(self.name, call.name, outcome).observe(
            call.duration_s)
        error = getattr(call.output, "error", None)
        if not call.output.success:
            category = getattr(getattr(error, "category", None), "value", "unknown")
            self.ops.metrics.skill_errors.labels(self.name, call.name, category).inc()
        span = tracing.tracer().start_span(
            f"skill {call.name}", start_time=time.time_ns() - int(call.duration_s * 1e9),
            attributes={"chimera.agent": self.name, "chimera.skill": call.name,
                        "chimera.skill.attempts": call.attempts})
        if error is not None and not call.output.success:
            span.set_status(Status(StatusCode.ERROR, f"{error.code}: {error.message}"[:500]))
        span.end()
        async with self.transaction() as tx:
            output = call.output.model_dump(mode="json")
            await tx.audit(
                f"skill:{call.name}", skill_name=call.name,
                status="success" if call.output.success else "failure",
                input_data=(call.input.model_dump(mode="json")
                            if hasattr(call.input, "model_dump") else call.input),
                output_data={"output": output, "attempts": call.attempts,
                             "duration_s": round(call.duration_s, 3)},
            )

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        # Tasks started from here on (relay, loops, FastStream's consume loop) inherit it.
        agent_var.set(self.name)
        tracing.configure_tracing(self.observability.otel_exporter,
                                  service_name=f"chimera-{self.name}")
        self.ops.stopping = False
        # First, so that /health/live answers (and /health/ready says "not started") while
        # the agent connects and checks the schema.
        await self.ops.start_http()
        try:
            async with self._resources():
                yield
        finally:
            await self.ops.stop_http()

    @asynccontextmanager
    async def _resources(self) -> AsyncIterator[None]:
        revision = await current_revision(self.settings.dsn())
        if revision != head_revision():
            raise ConfigError(f"database {self.settings.redacted_dsn()} is at revision "
                              f"{revision or 'base'}, not {head_revision()}: run `chimera migrate`")
        await ensure_topics(self.settings)
        self._pool = await asyncpg.create_pool(self.settings.dsn(), min_size=1, max_size=10)
        # aiokafka clients must be created inside the running loop.
        self._producer = make_producer(self.settings, client_id=f"chimera-{self.name}-relay")
        await self._producer.start()
        relayed = self.ops.metrics.relayed.labels(self.name)
        self._relay = OutboxRelay(self.pool, self._producer, self.name, on_sent=relayed.inc,
                                  retention_hours=self.settings.outbox_retention_hours)
        load_skills()  # every skill module registers itself on import
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0),
                                 follow_redirects=False)
        self._skills = BoundSkills(SkillContext(
            settings=self.settings, http=http, pool=self.pool, observers=[self._observe_skill],
            limiter=PgRateLimiter(self.pool), extras=skill_settings(),
        ))
        self.tasks = {"relay": asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")}
        self.tasks.update({loop.__name__: asyncio.create_task(
            loop(self), name=f"{self.name}-{loop.__name__}") for loop in self.background})
        self.ready.set()
        try:
            yield
        finally:
            agent_var.set(self.name)
            self.ready.clear()
            self.ops.stopping = True
            began = time.monotonic()
            # The relay finishes the batch in hand (cancelling it could re-send rows); the
            # background loops are cancelled (their work is claimed in the database and
            # resumed by the next process).
            self.relay.request_stop()
            relay = self.tasks["relay"]
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(relay), RELAY_STOP_TIMEOUT_S)
            for task in self.tasks.values():
                task.cancel()
            for task in self.tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.relay.drain()
            await http.aclose()
            await self._producer.stop()
            await self.pool.close()
            log.info("%s: stopped; relay drained and clients closed in %.1fs", self.name,
                     time.monotonic() - began)
