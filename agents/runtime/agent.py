"""`AgentRuntime`: one agent process, composed from its declarations.

An agent is declared by its name, its `Subscription`s and its background `Loop`s; the runtime
composes what every agent shares around them:

- the FastStream app and broker (`core.kafka.make_broker`), with one batch subscriber for all
  of the agent's topics wired by `agents.runtime.intake` (manual acks, total parser, the
  batch guard that rewinds on failure) and served by `agents.runtime.consumer`;
- in FastStream's lifespan (`agents.runtime.lifecycle`), never at import time: the schema
  check, the topics, the database pool, the relay's producer and the outbox relay, the skills'
  context, the background loops, and the HTTP endpoint (`agents.runtime.ops`);
- the unit of work for handlers (`transaction()`), and the typed skill runner (`skills`).

Shutdown (SIGTERM/SIGINT, handled by FastStream): the subscriber stops polling, the batch in
hand gets up to `CHIMERA_SHUTDOWN_TIMEOUT_S` to finish and be committed; past that it is
cancelled, its transaction rolls back and nothing of it is committed, so the next consumer
of its partitions gets it again (the inbox drops what did commit). Then the relay sends what
is committed but unsent, and the clients close (`lifecycle.Resources.close`). FastStream 0.7.8
does not ack a cancelled message (the fix of its PR 3010) and, with AckPolicy.MANUAL, has
auto-commit off.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware

from agents.runtime import lifecycle
from agents.runtime.consumer import BatchProcessor
from agents.runtime.intake import BatchGuard, as_records, raw_decoder, raw_parser
from agents.runtime.ops import Operations
from agents.runtime.relay import OutboxRelay
from agents.runtime.skills import AgentSkills
from agents.runtime.specification import specification
from agents.runtime.store import Tx, transaction
from agents.runtime.subscription import Loop, LoopFn, Subscription
from core.credentials import as_principal
from core.kafka import make_broker
from core.observability.logs import agent_var
from core.observability.settings import ObservabilitySettings
from core.retry import RetryPolicy
from core.settings import Settings
from events import Topics
from skills.accounts.tokens import AccessTokens

log = logging.getLogger("chimera.agent")

#: Built in the lifespan from the pool: the skills' `ctx.tokens` (connected accounts).
TokensFactory = Callable[[asyncpg.Pool], Awaitable[AccessTokens]]

# Consumers' handler retries: the specification's 3, backing off from half a second.
CONSUMER_RETRY = RetryPolicy(base_delay=0.5, max_delay=30.0, max_retry_after=3600.0)


class AgentRuntime:
    """One agent process: its name, settings, subscriptions and background loops."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        subscriptions: Sequence[Subscription[Any]],
        loops: Sequence[Loop | LoopFn] = (),
        *,
        description: str = "",
        retry: RetryPolicy = CONSUMER_RETRY,
        max_poll_interval_ms: int = 5 * 60 * 1000,
        observability: ObservabilitySettings | None = None,
        tokens: TokensFactory | None = None,
    ) -> None:
        self.name = name
        # Opens the agent's access tokens of connected accounts for its skills (publishing).
        self.open_tokens = tokens
        self.description = description.strip()
        # Each agent authenticates as itself (its Kafka user, its PostgreSQL role) wherever it
        # is built, from settings that carry the credentials file (core.credentials); without
        # one, or for a name that is no principal, the settings stay as they are.
        settings = as_principal(settings, name)
        self.settings = settings
        self.observability = observability or ObservabilitySettings()
        self.topics = Topics(settings.topic_prefix)
        self.group = f"{settings.topic_prefix}.{name}"
        self.subscriptions = tuple(subscriptions)
        self.loops = tuple(loop if isinstance(loop, Loop) else Loop.of(loop) for loop in loops)
        self.max_poll_interval_s = max_poll_interval_ms / 1000
        self.ops = Operations(self, self.observability)
        self.broker: KafkaBroker = make_broker(
            settings,
            client_id=f"chimera-{name}",
            graceful_timeout=self.observability.shutdown_timeout_s,
            middlewares=[
                BatchGuard(self.ops, self._consumer),
                KafkaPrometheusMiddleware(
                    registry=self.ops.metrics.registry, app_name=f"chimera-{name}"
                ),
            ],
        )
        # `faststream docs serve ... --factory` shows the same document as docs/asyncapi/.
        self.app = FastStream(
            self.broker, lifespan=self._lifespan, logger=log, specification=specification(self)
        )
        self.app.on_shutdown(self._on_shutdown)
        self.ready = asyncio.Event()
        # A consumer may not hold a batch past its poll interval: longer retries are parked.
        max_inline_wait = min(60.0, self.max_poll_interval_s / 10)
        self.processors = [
            BatchProcessor(self, sub, self.group, self.topics, retry, max_inline_wait)
            for sub in self.subscriptions
        ]
        # The FastStream subscriber (None without subscriptions) and the agent's own tasks
        # (relay, background loops), watched by /health/ready.
        self.subscriber: Any = self._register(max_poll_interval_ms) if self.processors else None
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._resources: lifecycle.Resources | None = None

    # --- resources (valid between lifespan start and stop) -----------------------------------
    @property
    def resources(self) -> lifecycle.Resources:
        assert self._resources is not None, "the agent is not started"
        return self._resources

    @property
    def started(self) -> bool:
        return self._resources is not None

    @property
    def pool(self) -> asyncpg.Pool:
        return self.resources.pool

    @property
    def producer(self) -> AIOKafkaProducer:
        return self.resources.producer

    @property
    def relay(self) -> OutboxRelay:
        return self.resources.relay

    @property
    def skills(self) -> AgentSkills:
        """The typed skill runner: `await rt.skills(spec, input)`."""
        return self.resources.skills

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One unit of work: state, inbox and outbox commit together; the relay is woken."""
        async with transaction(self.pool, self.name, self.topics) as tx:
            yield tx
        if tx.emitted:
            self.relay.wake()

    async def seen(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Whether `consumer` already processed `event_id` (its inbox row exists)."""
        return bool(
            await self.pool.fetchval(
                "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event_id
            )
        )

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

    def stats(self) -> dict[str, dict[str, int]]:
        """Per consumer: processed, duplicates, dead_lettered, retries."""
        return {p.sub.name: p.stats.as_dict() for p in self.processors}

    # --- wiring ------------------------------------------------------------------------------
    def _consumer(self) -> Any:
        return self.subscriber.consumer if self.subscriber is not None else None

    def _register(self, max_poll_interval_ms: int) -> Any:
        """One batch subscriber (one consumer, one group) for all of the agent's topics."""
        by_topic = {p.sub.topic: p for p in self.processors}
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
            parser=raw_parser,
            decoder=raw_decoder,
            # Documented by agents.runtime.specification with the event models instead.
            include_in_schema=False,
        )

        async def consume(body: list[bytes], message: KafkaMessage) -> None:
            del body  # the raw records carry bytes, key, headers and offsets
            agent_var.set(self.name)
            groups: dict[str, list[Any]] = {}
            for record in as_records(message.raw_message):
                groups.setdefault(record.topic, []).append(record)
            # Anything raised here (the database or Kafka down included) reaches the batch
            # guard, which rewinds the batch: nothing is committed that was not decided.
            for topic, batch in groups.items():
                await by_topic[topic].process(tuple(batch))
            await message.ack()

        subscriber(consume)
        return subscriber

    # --- lifespan ------------------------------------------------------------------------------
    async def _on_shutdown(self) -> None:
        """First step of a stop: readiness goes 503 while in-flight work finishes."""
        agent_var.set(self.name)  # several agents may share this task in tests
        self.ops.stopping = True
        log.info(
            "%s: stopping: no new batches; %d in flight get up to %.0fs",
            self.name,
            self.ops.in_flight,
            self.observability.shutdown_timeout_s,
        )

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        # Tasks started from here on (relay, loops, FastStream's consume loop) inherit it.
        agent_var.set(self.name)
        lifecycle.configure_tracing(self)
        self.ops.stopping = False
        # First, so that /health/live answers (and /health/ready says "not started") while
        # the agent connects and checks the schema.
        await self.ops.start_http()
        try:
            self._resources = await lifecycle.open_resources(self)
            try:
                self.tasks = lifecycle.start_tasks(self, self._resources)
                self.ready.set()
                yield
            finally:
                agent_var.set(self.name)
                self.ready.clear()
                self.ops.stopping = True
                await self._resources.close(self.tasks)
                self._resources = None
        finally:
            await self.ops.stop_http()
