"""How records get from FastStream to the agent's consumers, through FastStream's public hooks.

- `raw_parser` (a parser hook): FastStream's batch parser decodes every header value as UTF-8
  and fails on a null or binary one. Chimera's handlers never read FastStream's headers (they
  read the raw records), so the parser hands FastStream a header-less copy of the first record
  and puts the original records back on the parsed message: no record shape Kafka can deliver
  fails there, and a batch costs one copy, not one per record. (Header names that are not
  UTF-8 are read by `core.records.install_lenient_fetch`, before any parser.)
- `raw_decoder` (a decoder hook): the handler gets raw bytes; decoding is Chimera's own
  (strict, with dead letters), in `agents.runtime.consumer`.
- `BatchGuard` (a broker middleware, outermost of Chimera's): it counts batches in flight
  for readiness, and when anything between the poll and the commit raises (a parser, a
  decoder, a middleware, the handler, the commit), it rewinds every partition of the batch to
  its first offset and pauses before the next poll. A later `ack()` commits the position of
  every assigned partition, so a batch that failed and was not rewound would be skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream import BaseMiddleware
from faststream.kafka.message import KafkaMessage

if TYPE_CHECKING:
    from agents.runtime.ops import Operations

log = logging.getLogger("chimera.intake")

Records = tuple[ConsumerRecord[Any, Any], ...]


def as_records(raw: object) -> Records:
    """A FastStream raw message (one record or a batch) as a tuple of records."""
    if isinstance(raw, tuple):
        return raw
    assert isinstance(raw, ConsumerRecord)
    return (raw,)


async def raw_parser(
    records: Records | ConsumerRecord[Any, Any], original: Callable[[Any], Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream's parser on a header-less copy of the first record (it reads nothing else
    Chimera uses); the message gets the original records and every record's value as its
    body (what FastStream's metrics measure)."""
    batch = as_records(records)
    bare = dataclasses.replace(batch[0], headers=())
    message = await original((bare,) if isinstance(records, tuple) else bare)
    message.raw_message = records
    if isinstance(records, tuple):
        message.body = [r.value or b"" for r in batch]  # type: ignore[assignment]
    return message


async def raw_decoder(message: KafkaMessage) -> Any:
    """Hand the raw bytes to the handler: decoding is Chimera's (strict, with dead letters)."""
    return message.body


def first_offsets(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """Each partition of `records` with the offset of its first record."""
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        if tp not in first or record.offset < first[tp]:
            first[tp] = record.offset
    return first


class BatchGuard:
    """Builds the per-message middleware (FastStream makes one per message)."""

    def __init__(
        self, ops: Operations, consumer: Callable[[], Any], *, pause_s: float = 2.0
    ) -> None:
        self.ops = ops
        self.consumer = consumer  # the subscriber's aiokafka consumer, once started
        self.pause_s = pause_s

    def __call__(self, msg: Any, /, **kwargs: Any) -> _GuardMiddleware:
        return _GuardMiddleware(msg, guard=self, **kwargs)

    async def rewind(self, records: Records, exc: BaseException) -> None:
        """Seek every partition of `records` back to its first offset, then pause."""
        consumer = self.consumer()
        assigned = set(consumer.assignment()) if consumer is not None else set()
        for tp, offset in first_offsets(records).items():
            if tp in assigned:  # a partition lost in a rebalance is re-read by its new owner
                consumer.seek(tp, offset)
        self.ops.batch_rewound()
        log.warning(
            "%s: batch of %d record(s) failed before it was decided (%s: %s); "
            "rewound, retrying in %.0fs",
            self.ops.agent,
            len(records),
            type(exc).__name__,
            exc,
            self.pause_s,
        )
        await asyncio.sleep(self.pause_s)


class _GuardMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, guard: BatchGuard, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        self.guard = guard

    async def on_receive(self) -> None:
        self.guard.ops.batch_started()

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        self.guard.ops.batch_finished()
        if exc_val is None or not isinstance(exc_val, Exception):
            return False
        await self.guard.rewind(as_records(self.msg), exc_val)
        return True  # handled: rewound, nothing committed
