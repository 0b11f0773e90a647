"""Wire contracts besides the event bodies: the headers of dead letters and redrives.

A dead letter on `<topic>.dlq` is the original record (value, key and headers, byte for byte)
plus the `chimera.dlq.*` headers below, which say where it came from and why it was refused.
Operators' tools (`chimera dlq`) read them back; other languages can too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DLQ_HEADER_PREFIX = "chimera.dlq."
#: Added to a record that `chimera dlq redrive` copied back: `<dlq topic>/<partition>/<offset>`.
REDRIVEN_FROM = "chimera.redriven-from"

Headers = list[tuple[str, bytes]]


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
    exception_class: str
    exception_message: str
    timestamp: str

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
            "exception.message": self.exception_message[:4000],
            "timestamp": self.timestamp,
        }
        return [(DLQ_HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


def dead_letter_headers(
    original: Sequence[tuple[str, bytes | None]] | None, reason: DeadLetterReason
) -> list[tuple[str, bytes | None]]:
    """The original headers unchanged, then the reason's."""
    return [*(original or ()), *reason.headers()]


def is_chimera_header(name: str) -> bool:
    """Headers Chimera adds to dead letters and redrives (not part of the original record)."""
    return name.startswith(DLQ_HEADER_PREFIX) or name == REDRIVEN_FROM
