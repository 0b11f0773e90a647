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
If 2 or 3 fails, the batch is rewound and the next delivery sends the same stored bytes (the
row is there, unsent). Kafka sees each dead letter once, or after a crash between the ack and
step 3 a byte-identical copy (the outbox relay's at-least-once, for the same reason).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from agents.runtime.store import Tx
from core.records import Header, headers_from_json, headers_json, partition_for, send_exact
from events import OperatorAlert, Topics
from events.wire import DeadLetterReason, dead_letter_headers


@dataclass(frozen=True)
class Refusal:
    """One record a consumer group refuses, why, and the alert that tells a person."""

    record: ConsumerRecord[Any, Any]
    reason: DeadLetterReason
    alert: OperatorAlert

    @property
    def coordinates(self) -> tuple[str, int, int, str]:
        return (self.record.topic, self.record.partition, self.record.offset, self.reason.group)


@dataclass(frozen=True)
class Outcome:
    """What `send_dead_letters` did: dead-lettered now, or found dead-lettered before."""

    sent: list[Refusal]
    repeated: list[Refusal]


async def _claim(tx: Tx, refusal: Refusal) -> tuple[bool, tuple[Any, ...] | None]:
    """(new, stored bytes to send or None when it was sent before)."""
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
        return True, (record.key, record.value, tuple(headers))
    row = await tx.conn.fetchrow(
        """SELECT key, value, headers, sent_at FROM dead_letters
           WHERE topic = $1 AND "partition" = $2 AND "offset" = $3 AND consumer_group = $4""",
        *refusal.coordinates,
    )
    assert row is not None
    if row["sent_at"] is not None:
        return False, None
    return False, (row["key"], row["value"], headers_from_json(row["headers"]))


async def send_dead_letters(
    transaction: Any, producer: AIOKafkaProducer, refusals: Sequence[Refusal]
) -> Outcome:
    """Dead-letter `refusals` once each (see the module docstring); raises when the database
    or Kafka fails, leaving the unsent ones for the next delivery."""
    to_send: list[tuple[Refusal, tuple[bytes | None, bytes | None, Sequence[Header]]]] = []
    repeated: list[Refusal] = []
    async with transaction() as tx:
        for refusal in refusals:
            new, stored = await _claim(tx, refusal)
            if stored is None:
                repeated.append(refusal)
                continue
            to_send.append((refusal, stored))
            if new:
                await tx.emit(refusal.alert, key=refusal.alert.payload.subject)
    if not to_send:
        return Outcome([], repeated)
    acks = []
    for refusal, (key, value, headers) in to_send:
        topic = Topics.dlq(refusal.record.topic)
        partition = await partition_for(producer, topic, refusal.record.partition)
        acks.append(
            await send_exact(
                producer, topic, key=key, value=value, headers=headers, partition=partition
            )
        )
    await asyncio.gather(*acks)
    sent = [refusal for refusal, _ in to_send]
    async with transaction() as tx:
        await tx.conn.execute(
            """UPDATE dead_letters d SET sent_at = now()
               FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[])
                    AS s(topic, "partition", "offset", consumer_group)
               WHERE d.topic = s.topic AND d."partition" = s."partition"
                 AND d."offset" = s."offset" AND d.consumer_group = s.consumer_group""",
            *(list(column) for column in zip(*(r.coordinates for r in sent), strict=True)),
        )
    return Outcome(sent, repeated)
