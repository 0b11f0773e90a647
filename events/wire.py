"""Wire contracts besides the event bodies: the headers of dead letters and redrives.

A dead letter on `<topic>.dlq` is the original record (value, key and headers, byte for byte,
null ones included) plus the `chimera.dlq.*` headers below, which say where it came from and
why it was refused: what Kafka Connect's (`__connect.errors.*`) and Spring Kafka's
(`kafka_dlt-*`) dead letters say, under one prefix: the original topic, partition, offset,
timestamp and timestamp type, the consumer group, the fully qualified exception class, its
message and its stack trace (both cut to a bound). Operators' tools (`chimera dlq`) read them
back; other languages can too (every value is UTF-8 text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DLQ_HEADER_PREFIX = "chimera.dlq."
#: Added to a record that `chimera dlq redrive` copied back: `<dlq topic>/<partition>/<offset>`.
REDRIVEN_FROM = "chimera.redriven-from"

Headers = list[tuple[str, bytes]]
MESSAGE_LIMIT = 4000  # characters of the exception message kept
STACKTRACE_LIMIT = 8000  # characters of the stack trace kept (its start and its end)
#: Kafka's names of a record's timestamp types (`TimestampType` in the Java client).
TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}


@dataclass(frozen=True)
class DeadLetterReason:
    """Where a refused record came from, who refused it and why."""

    topic: str
    partition: int
    offset: int
    group: str
    consumer: str
    error_code: str
    error_category: str
    exception_class: str  # fully qualified: `events.codec.DecodeError`
    exception_message: str
    timestamp: str  # when it was dead-lettered (ISO 8601)
    original_timestamp: int | None = None  # the record's timestamp, ms since the epoch
    original_timestamp_type: int | None = None  # 0 CreateTime, 1 LogAppendTime
    stacktrace: str = ""

    def headers(self) -> Headers:
        """The `chimera.dlq.*` headers for this reason (values UTF-8)."""
        fields = {
            "original.topic": self.topic,
            "original.partition": str(self.partition),
            "original.offset": str(self.offset),
            "consumer.group": self.group,
            "consumer": self.consumer,
            "error.code": self.error_code,
            "error.category": self.error_category,
            "exception.class": self.exception_class,
            "exception.message": self.exception_message[:MESSAGE_LIMIT],
            "timestamp": self.timestamp,
        }
        if self.original_timestamp is not None and self.original_timestamp >= 0:
            fields[ORIGINAL_TIMESTAMP] = str(self.original_timestamp)
            fields[ORIGINAL_TIMESTAMP_TYPE] = TIMESTAMP_TYPES.get(
                self.original_timestamp_type or 0, "CreateTime"
            )
        if self.stacktrace:
            fields["exception.stacktrace"] = bounded(self.stacktrace, STACKTRACE_LIMIT)
        return [(DLQ_HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


#: `chimera.dlq.` + these: the original record's timestamp (ms) and its type's name.
ORIGINAL_TIMESTAMP = "original.timestamp"
ORIGINAL_TIMESTAMP_TYPE = "original.timestamp.type"


def bounded(text: str, limit: int) -> str:
    """`text`, or its start and its end with what was cut in between named."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    head = limit // 2
    return f"{text[:head]}\n... ({cut} characters cut) ...\n{text[len(text) - (limit - head) :]}"


def qualified_name(exc: BaseException) -> str:
    """The exception's fully qualified class name (`builtins.` left out)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def dead_letter_headers(
    original: Sequence[tuple[str, bytes | None]] | None, reason: DeadLetterReason
) -> list[tuple[str, bytes | None]]:
    """The original headers unchanged, then the reason's."""
    return [*(original or ()), *reason.headers()]


def is_chimera_header(name: str) -> bool:
    """Headers Chimera adds to dead letters and redrives (not part of the original record)."""
    return name.startswith(DLQ_HEADER_PREFIX) or name == REDRIVEN_FROM
