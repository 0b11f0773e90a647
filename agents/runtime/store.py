"""The unit of work every handler runs in: one PostgreSQL transaction holding the state
change, the inbox record of the event that caused it, and the outbox rows of what it emits.

Because all three commit together, a crash at any instant either keeps all of them or none:
a redelivered event finds its inbox row and is skipped; an event is emitted iff the state
change it reports was committed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from core.db import Conn
from core.errors import ErrorInfo
from core.ids import derived_id
from core.observability.tracing import headers_for
from core.redact import redact
from events import AuditRecorded, Envelope, OperatorAlert, Topics, encode
from events.catalog import AuditPayload, OperatorAlertPayload, audit_id

AuditStatus = Literal["success", "failure", "pending"]


class Tx:
    """One open transaction of one agent. Handlers use `conn` for their own SQL."""

    def __init__(self, conn: Conn, agent: str, topics: Topics) -> None:
        self.conn = conn
        self.agent = agent
        self.topics = topics
        self.emitted = 0
        # Outbox rows are buffered and written in one round trip just before the commit.
        self._outbox: list[tuple[Any, ...]] = []

    async def claim(self, consumer: str, event: Envelope[Any]) -> bool:
        """Record that `consumer` processed `event`; False if it already had (a duplicate)."""
        inserted = await self.conn.fetchval(
            """INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            consumer,
            event.event_id,
            event.event_type,
        )
        return bool(inserted)

    async def claim_many(self, consumer: str, events: list[Envelope[Any]]) -> list[Envelope[Any]]:
        """`claim` for a batch in one round trip; returns the events not processed before."""
        new = set(
            await self.conn.fetchval(
                """WITH claimed AS (
                   INSERT INTO inbox (consumer, event_id, event_type)
                   SELECT $1, e.id, e.type FROM unnest($2::uuid[], $3::text[]) AS e(id, type)
                   ON CONFLICT DO NOTHING RETURNING event_id)
               SELECT coalesce(array_agg(event_id), '{}') FROM claimed""",
                consumer,
                [e.event_id for e in events],
                [e.event_type for e in events],
            )
        )
        fresh, seen = [], set()
        for event in events:
            if event.event_id in new and event.event_id not in seen:
                seen.add(event.event_id)
                fresh.append(event)
        return fresh

    async def emit(
        self, event: Envelope[Any], key: str | None, *, headers: dict[str, str] | None = None
    ) -> None:
        """Queue `event` for the relay, on its stream's topic. Idempotent on its event id.

        Written to the outbox with the transaction (see `flush`), never without it. The
        current trace context goes with it as a `traceparent` header (see
        `core.observability.tracing.headers_for`); explicit `headers` win.
        """
        headers = {**headers_for(event), **(headers or {})}
        self._outbox.append(
            (
                self.agent,
                event.event_id,
                event.event_type,
                self.topics.stream_of(event.event_type),
                key,
                encode(event),
                json.dumps(headers),
            )
        )
        self.emitted += 1

    async def flush(self) -> None:
        """Write the buffered outbox rows (called by `transaction()` before it commits)."""
        if self._outbox:
            await self.conn.executemany(
                """INSERT INTO outbox (agent, event_id, event_type, topic, key, value, headers)
                   VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
                   ON CONFLICT (event_id) DO NOTHING""",
                self._outbox,
            )
            self._outbox.clear()

    async def audit(
        self,
        action: str,
        *,
        status: AuditStatus = "success",
        cause: Envelope[Any] | None = None,
        skill_name: str | None = None,
        input_data: Any = None,
        output_data: Any = None,
        discriminator: str = "",
    ) -> None:
        """Emit an AuditRecorded for what this agent just did (PII removed first).

        The audit row id is derived from the causing event and the action, so processing
        the same event again can never produce a second row.
        """
        row_id = (
            audit_id(self.agent, action, cause.event_id, discriminator)
            if cause is not None
            else str(uuid.uuid4())
        )
        now = datetime.now(UTC)
        # Built without re-validation: every field is ours and already of the right type
        # (the audit sink validates what it consumes like any other consumer).
        payload = AuditPayload.model_construct(
            id=row_id,
            agent_id=self.agent,
            action=action,
            skill_name=skill_name,
            input_data=redact(input_data),
            output_data=redact(output_data),
            status=status,
            timestamp=now,
        )
        event_id = derived_id("audit-event", row_id)
        event = AuditRecorded.model_construct(
            event_id=event_id,
            event_type=AuditRecorded.EVENT_TYPE,
            schema_version=1,
            occurred_at=now,
            producer=self.agent,
            correlation_id=cause.correlation_id if cause is not None else event_id,
            causation_id=cause.event_id if cause is not None else None,
            payload=payload,
        )
        await self.emit(event, key=self.agent)

    async def alert(
        self,
        error: ErrorInfo,
        *,
        subject: str,
        cause: Envelope[Any] | None,
        severity: Literal["warning", "error", "critical"] = "error",
        context: dict[str, Any] | None = None,
    ) -> None:
        """Raise an OperatorAlert (through the outbox, so it commits with the state)."""
        payload = OperatorAlertPayload.model_validate(
            {
                "severity": severity,
                "source": self.agent,
                "error": error.model_dump(mode="json"),
                "subject": subject,
                "context": redact(context or {}),
            },
            strict=False,
        )
        await self.emit(
            OperatorAlert.create(payload, producer=self.agent, causation=cause), key=subject
        )


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, agent: str, topics: Topics) -> AsyncIterator[Tx]:
    async with pool.acquire() as conn, conn.transaction():
        tx = Tx(conn, agent, topics)
        yield tx
        await tx.flush()
