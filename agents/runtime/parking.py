"""Parked records: retries due later than a consumer may hold its batch.

A consumer must not sleep in a batch past its poll interval (Kafka would take its partitions
away). When the retry policy says "retry in ten minutes", the record is written here, with its
original bytes, inside a transaction, and the batch commits. The agent's unpark loop leases the
due rows (`lease_due`), runs them through the same consumer (inbox, retries, dead letters), and
deletes them once decided. A lease that a crashed process held expires, and the row is due again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka.structs import ConsumerRecord

from core.db import Conn
from core.errors import ErrorInfo
from core.records import headers_from_json, headers_json
from events import Envelope

if TYPE_CHECKING:
    from agents.runtime.consumer import BatchProcessor

log = logging.getLogger("chimera.parking")
LEASE_S = 600.0  # how long an unpark run may take before another process may take the row


@dataclass(frozen=True)
class ParkedRecord:
    """A parked record as the consumer needs it again."""

    consumer: str
    attempt: int
    record: ConsumerRecord[Any, Any]


async def park_record(
    conn: Conn,
    consumer: str,
    record: ConsumerRecord[Any, Any],
    event: Envelope[Any],
    *,
    attempt: int,
    delay: float,
    error: ErrorInfo,
) -> None:
    """Keep `record` for `consumer` until `delay` seconds from now (again: move its due time)."""
    await conn.execute(
        """INSERT INTO parked_events (consumer, event_id, event_type, topic, "partition",
                                      "offset", "timestamp", key, value, headers, attempt,
                                      due_at, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11,
                   now() + make_interval(secs => $12), $13::jsonb)
           ON CONFLICT (consumer, event_id) DO UPDATE SET attempt = EXCLUDED.attempt,
               due_at = EXCLUDED.due_at, error = EXCLUDED.error""",
        consumer,
        event.event_id,
        event.event_type,
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        record.key,
        record.value,
        headers_json(record.headers),
        attempt,
        delay,
        error.model_dump_json(),
    )


async def unpark_record(conn: Conn, consumer: str, event_id: Any) -> None:
    await conn.execute(
        "DELETE FROM parked_events WHERE consumer = $1 AND event_id = $2", consumer, event_id
    )


async def lease_due(conn: Conn, consumers: Sequence[str], limit: int = 10) -> list[ParkedRecord]:
    """Take the due rows of `consumers` for `LEASE_S` seconds (no other process gets them)."""
    rows = await conn.fetch(
        """UPDATE parked_events SET due_at = now() + make_interval(secs => $3)
           WHERE (consumer, event_id) IN (
               SELECT consumer, event_id FROM parked_events
               WHERE consumer = ANY($1::text[]) AND due_at <= now()
               ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        list(consumers),
        limit,
        LEASE_S,
    )
    return [
        ParkedRecord(
            consumer=row["consumer"],
            attempt=row["attempt"],
            record=ConsumerRecord(
                topic=row["topic"],
                partition=row["partition"],
                offset=row["offset"],
                timestamp=row["timestamp"],
                timestamp_type=0,
                key=row["key"],
                value=row["value"],
                checksum=None,
                serialized_key_size=len(row["key"] or b""),
                serialized_value_size=len(row["value"] or b""),
                headers=headers_from_json(row["headers"]),
            ),
        )
        for row in rows
    ]


async def unpark_loop(
    processors: Sequence[BatchProcessor], pool: Any, interval: float = 1.0
) -> None:
    """Run due parked records through their consumer, forever (cancelled on stop)."""
    by_name = {p.sub.name: p for p in processors}
    while True:
        try:
            async with pool.acquire() as conn:
                due = await lease_due(conn, list(by_name))
            for row in due:
                await by_name[row.consumer].retry_parked(row)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unparking failed; trying again")
            due = []
        if not due:
            await asyncio.sleep(interval)
