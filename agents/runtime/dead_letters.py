"""Dead letters, once per refused record and consumer group.

A consumer refuses a record (it cannot be decoded, or its handler failed for good) through
`send_dead_letters`:
1. one transaction records the record's coordinates and group in `dead_letters` (migration
   0007) with the dead letter's exact bytes, and queues the OperatorAlert in the outbox; a row
   that is there already and sent means it was dead-lettered before (a crash before the batch
   was committed, a replay of the range): nothing more is done for it;
2. the stored bytes go to `<topic>.dlq` (`core.records.send_exact`: any header, null key and
   value, byte for byte) and the broker's acks are awaited;
3. the rows are marked sent.
If 2 or 3 fails, the batch is rewound and the next delivery finds the row unsent. It then
asks the dead-letter partition first, as the publish agent asks a platform about a post in
doubt: a dead letter for the same coordinates and group sent since the row was written (the
process died between the broker's ack and step 3) is not sent again, only marked; otherwise
the same stored bytes are sent. Kafka holds each dead letter once per record and group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from agents.runtime.store import Tx
from core.kafka import client_options
from core.records import (
    Header,
    headers_from_json,
    headers_json,
    install_lenient_fetch,
    partition_for,
    send_exact,
)
from core.settings import Settings
from events import OperatorAlert, Topics
from events.wire import DLQ_HEADER_PREFIX, DeadLetterReason, dead_letter_headers

# How far before a row's creation a dead letter of it may be stamped (clocks of the database
# and of the agent differ).
CLOCK_SKEW_S = 60.0
Coordinates = tuple[str, int, int, str]


@dataclass(frozen=True)
class Refusal:
    """One record a consumer group refuses, why, and the alert that tells a person."""

    record: ConsumerRecord[Any, Any]
    reason: DeadLetterReason
    alert: OperatorAlert

    @property
    def coordinates(self) -> Coordinates:
        return (self.record.topic, self.record.partition, self.record.offset, self.reason.group)


@dataclass(frozen=True)
class Outcome:
    """What `send_dead_letters` did: dead-lettered now, or found dead-lettered before."""

    sent: list[Refusal]
    repeated: list[Refusal]


@dataclass(frozen=True)
class _Stored:
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]
    new: bool
    created_at: datetime | None = None


async def _claim(tx: Tx, refusal: Refusal) -> _Stored | None:
    """The dead letter to send (new, or written before and not sent); None when it was."""
    record, reason = refusal.record, refusal.reason
    headers = dead_letter_headers(record.headers, reason)
    inserted = await tx.conn.fetchval(
        """INSERT INTO dead_letters (topic, "partition", "offset", consumer_group, consumer,
                                     dead_letter_topic, error_code, error_category, key,
                                     value, headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
           ON CONFLICT DO NOTHING RETURNING true""",
        *refusal.coordinates,
        reason.consumer,
        Topics.dlq(record.topic),
        reason.error_code,
        reason.error_category,
        record.key,
        record.value,
        headers_json(headers),
    )
    if inserted:
        return _Stored(record.key, record.value, tuple(headers), new=True)
    row = await tx.conn.fetchrow(
        """SELECT key, value, headers, created_at, sent_at FROM dead_letters
           WHERE topic = $1 AND "partition" = $2 AND "offset" = $3 AND consumer_group = $4""",
        *refusal.coordinates,
    )
    assert row is not None
    if row["sent_at"] is not None:
        return None
    return _Stored(
        row["key"],
        row["value"],
        headers_from_json(row["headers"]),
        new=False,
        created_at=row["created_at"],
    )


async def send_dead_letters(
    transaction: Any, producer: AIOKafkaProducer, settings: Settings, refusals: Sequence[Refusal]
) -> Outcome:
    """Dead-letter `refusals` once each (see the module docstring); raises when the database
    or Kafka fails, leaving the unsent ones for the next delivery."""
    to_send: list[tuple[Refusal, _Stored, int]] = []
    repeated: list[Refusal] = []
    async with transaction() as tx:
        for refusal in refusals:
            stored = await _claim(tx, refusal)
            if stored is None:
                repeated.append(refusal)
                continue
            topic = Topics.dlq(refusal.record.topic)
            to_send.append(
                (refusal, stored, await partition_for(producer, topic, refusal.record.partition))
            )
            if stored.new:
                await tx.emit(refusal.alert, key=refusal.alert.payload.subject)
    if not to_send:
        return Outcome([], repeated)
    in_doubt = [(r, s, p) for r, s, p in to_send if s.created_at is not None]
    there = await _already_sent(settings, in_doubt) if in_doubt else set()
    acks = []
    for refusal, stored, partition in to_send:
        if refusal.coordinates in there:
            continue
        acks.append(
            await send_exact(
                producer,
                Topics.dlq(refusal.record.topic),
                key=stored.key,
                value=stored.value,
                headers=stored.headers,
                partition=partition,
            )
        )
    await asyncio.gather(*acks)
    done = [refusal for refusal, _, _ in to_send]
    async with transaction() as tx:
        await tx.conn.execute(
            """UPDATE dead_letters d SET sent_at = now()
               FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[])
                    AS s(topic, "partition", "offset", consumer_group)
               WHERE d.topic = s.topic AND d."partition" = s."partition"
                 AND d."offset" = s."offset" AND d.consumer_group = s.consumer_group""",
            *(list(column) for column in zip(*(r.coordinates for r in done), strict=True)),
        )
    sent = [r for r in done if r.coordinates not in there]
    return Outcome(sent, repeated + [r for r in done if r.coordinates in there])


async def _already_sent(
    settings: Settings, in_doubt: Sequence[tuple[Refusal, _Stored, int]]
) -> set[Coordinates]:
    """Which of these dead letters, written but not marked sent, the dead-letter partitions
    hold already (sent since their row was written, minus the clocks' skew)."""
    install_lenient_fetch()
    wanted = {refusal.coordinates for refusal, _, _ in in_doubt}
    since: dict[TopicPartition, int] = {}
    for refusal, stored, partition in in_doubt:
        assert stored.created_at is not None
        tp = TopicPartition(Topics.dlq(refusal.record.topic), partition)
        ms = int((stored.created_at.timestamp() - CLOCK_SKEW_S) * 1000)
        since[tp] = min(since.get(tp, ms), ms)
    found: set[Coordinates] = set()
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    await asyncio.sleep(0)  # aiokafka 0.14: let its task run before a stop
    try:
        consumer.assign(list(since))
        starts = await consumer.offsets_for_times(since)
        ends = await consumer.end_offsets(list(since))
        for tp in since:
            start = starts.get(tp)
            consumer.seek(tp, start.offset if start is not None else ends[tp])
        pending = {tp for tp in since if await consumer.position(tp) < ends[tp]}
        deadline = time.monotonic() + 30.0
        while pending and time.monotonic() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for records in batch.values():
                for record in records:
                    coordinates = _coordinates_of(record)
                    if coordinates is not None and coordinates in wanted:
                        found.add(coordinates)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        if pending:
            raise TimeoutError(f"cannot read {sorted(map(str, pending))} to their end")
    finally:
        await consumer.stop()
    return found


def _coordinates_of(record: ConsumerRecord[Any, Any]) -> Coordinates | None:
    """The (topic, partition, offset, group) a dead letter says it refuses, from its headers."""
    why = {
        k[len(DLQ_HEADER_PREFIX) :]: v.decode(errors="replace")
        for k, v in record.headers or ()
        if k.startswith(DLQ_HEADER_PREFIX) and v is not None
    }
    try:
        return (
            why["original.topic"],
            int(why["original.partition"]),
            int(why["original.offset"]),
            why["consumer.group"],
        )
    except (KeyError, ValueError):
        return None
