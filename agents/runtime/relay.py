"""The outbox relay: sends committed outbox rows to Kafka, in order, and marks them sent.

One relay per agent is active at a time (a PostgreSQL advisory lock elects it), so rows are
sent in commit order and per-key order holds even when an agent runs several replicas.
Sending is at-least-once (a crash between the broker's ack and `sent_at` sends a row again);
every event carries its `event_id`, and consumers drop duplicates by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zlib
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from core.db import Conn

log = logging.getLogger("chimera.relay")


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        agent: str,
        *,
        batch_size: int = 500,
        idle_interval: float = 0.2,
        on_sent: Callable[[int], None] | None = None,
        retention_hours: float = 168.0,
        prune_interval: float = 600.0,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.agent = agent
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self._wake = asyncio.Event()
        self._lock_key = zlib.crc32(f"chimera-relay:{agent}".encode())
        self.sent = 0
        self._on_sent = on_sent  # metrics hook: called with the count of each sent batch
        self._stopping = False
        # Sent rows are only kept for inspection (the events themselves live in Kafka).
        self.retention_hours = retention_hours
        self.prune_interval = prune_interval
        self._last_prune = 0.0

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, so they go out without waiting."""
        self._wake.set()

    def request_stop(self) -> None:
        """Make `run` return after the batch in hand is sent and marked sent.

        Cancelling `run` instead may interrupt it between the broker's acks and the `sent_at`
        update, and those rows are sent again (harmless, but avoidable on a clean stop).
        """
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Relay until `request_stop` (or cancellation). Survives broker and database outages."""
        self._stopping = False
        while not self._stopping:
            try:
                async with self.pool.acquire() as conn:
                    await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay for %s failed; retrying", self.agent)
                if not self._stopping:
                    await asyncio.sleep(1.0)

    async def _lead(self, conn: Conn) -> None:
        # Session-level lock: held while this connection lives; a crashed leader's lock is
        # released by PostgreSQL when its connection drops.
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
            if self._stopping:
                return
            await self._idle()
        try:
            while not self._stopping:
                if await self.relay_once(conn) == 0:
                    if time.monotonic() - self._last_prune >= self.prune_interval:
                        await self.prune(conn)
                    await self._idle()
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", self._lock_key)

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.idle_interval)
        self._wake.clear()

    async def drain(self) -> None:
        """Send what is committed but unsent (on a clean stop), if no other replica leads."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                return
            try:
                while await self.relay_once(conn):
                    pass
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", self._lock_key)

    async def prune(self, conn: Conn, batch: int = 10_000) -> int:
        """Delete this agent's rows sent more than `retention_hours` ago; returns the count."""
        self._last_prune = time.monotonic()
        deleted = 0
        while True:
            status = await conn.execute(
                """DELETE FROM outbox WHERE id IN (
                       SELECT id FROM outbox WHERE agent = $1 AND sent_at IS NOT NULL
                         AND sent_at < now() - make_interval(secs => $2) LIMIT $3)""",
                self.agent,
                self.retention_hours * 3600,
                batch,
            )
            count = int(status.split()[-1])
            deleted += count
            if count < batch:
                return deleted

    async def relay_once(self, conn: Conn) -> int:
        """Send one batch of unsent rows; returns how many were sent."""
        rows = await conn.fetch(
            """SELECT id, topic, key, value, headers FROM outbox
               WHERE agent = $1 AND sent_at IS NULL ORDER BY id LIMIT $2""",
            self.agent,
            self.batch_size,
        )
        if not rows:
            return 0
        futures = []
        for row in rows:
            headers = [(k, str(v).encode()) for k, v in json.loads(row["headers"]).items()]
            futures.append(
                await self.producer.send(
                    row["topic"],
                    row["value"],
                    key=row["key"].encode() if row["key"] is not None else None,
                    headers=headers or None,
                )
            )
        # The idempotent producer keeps each partition's order; wait for every ack.
        await asyncio.gather(*futures)
        await conn.execute(
            "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
        self.sent += len(rows)
        if self._on_sent is not None:
            self._on_sent(len(rows))
        return len(rows)
