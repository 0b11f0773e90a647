"""Kafka records byte for byte, whatever they hold.

Kafka delivers records that Chimera did not expect, and Chimera must keep every byte of them
(a dead letter is the original record). aiokafka gets in the way in three places:

- it decodes a header's *name* as strict UTF-8 (the protocol says it is a string; brokers do
  not check). A batch holding a name that is not UTF-8 makes the fetcher raise, FastStream's
  consume loop dies on it and the partition is stuck behind that record for good.
  `install_lenient_fetch()` makes the fetcher read such a batch again with a decoder that
  keeps every byte (`surrogateescape`: `header_name_bytes` gives the exact bytes back);
  batches without such names take aiokafka's fast path as before.
- its producer encodes header names as strict UTF-8 too, and refuses a record whose key and
  value are both null (Kafka accepts it). `send_exact` writes one record as it was: any
  header names and values, null ones too, null key and value, and its timestamp.
- headers kept in PostgreSQL (`headers_json` / `headers_from_json`) keep null values and
  names that are not UTF-8.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.consumer import fetcher as _fetcher
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import (
    _DefaultRecordBatchBuilderPy,
    _DefaultRecordBatchPy,
)
from aiokafka.record.memory_records import MemoryRecords

Header = tuple[str, bytes | None]


def header_name_bytes(name: str) -> bytes:
    """The bytes of a header name as it came from Kafka (see the module docstring)."""
    return name.encode("utf-8", "surrogateescape")


def header_name(raw: bytes) -> str:
    """A header name from its bytes, as the lenient fetcher gives it."""
    return raw.decode("utf-8", "surrogateescape")


# --- reading ---------------------------------------------------------------------------------
class _LenientBytes(bytearray):
    """A buffer whose slices decode with `surrogateescape` (aiokafka's pure-Python reader
    decodes header names with `buffer[a:b].decode("utf-8")`)."""

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return _LenientBytes(item) if isinstance(index, slice) else item

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytearray.decode(self, encoding, "surrogateescape")


class _LenientPyBatch(_DefaultRecordBatchPy):
    def _maybe_uncompress(self) -> None:
        super()._maybe_uncompress()
        buffer: bytearray = self._buffer  # type: ignore[has-type]
        if not isinstance(buffer, _LenientBytes):
            self._buffer = _LenientBytes(buffer)


class _LenientBatch:
    """aiokafka's (compiled) record batch, read again leniently when a header name is not
    UTF-8. Everything else is the compiled batch's."""

    def __init__(self, batch: Any, raw: memoryview) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self) -> Iterator[Any]:
        try:
            records = list(self._batch)
        except UnicodeDecodeError:
            records = list(_LenientPyBatch(bytes(self._raw)))
        return iter(records)

    def __next__(self) -> Any:  # control batches are read record by record
        return next(self._batch)


class _LenientMemoryRecords:
    """aiokafka's MemoryRecords, handing out batches that survive non-UTF-8 header names."""

    def __init__(self, data: bytes) -> None:
        self._records = MemoryRecords(data)
        self._data = memoryview(data)
        self._pos = 0

    def size_in_bytes(self) -> int:
        return self._records.size_in_bytes()

    def has_next(self) -> bool:
        return self._records.has_next()

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None:
            return None
        # Every batch (and legacy message) starts with offset (int64) and size (int32).
        start = self._pos
        (size,) = struct.unpack_from(">i", self._data, start + 8)
        self._pos = start + 12 + size
        if batch.magic < 2:  # legacy formats have no headers
            return batch
        return _LenientBatch(batch, self._data[start : self._pos])


def install_lenient_fetch() -> None:
    """Make every aiokafka consumer of this process accept any header name (idempotent)."""
    _fetcher.MemoryRecords = _LenientMemoryRecords  # type: ignore[misc,assignment]


# --- writing ---------------------------------------------------------------------------------
class _ExactName(str):
    """A header name that encodes to the bytes it was read from."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return str.encode(self, encoding, "surrogateescape")


class _ExactBatchBuilder(BatchBuilder):
    """One record batch built by aiokafka's pure-Python builder, which accepts what
    `_ExactName` encodes and a record with a null key and a null value."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(batch_size, 0)
        self._builder = _DefaultRecordBatchBuilderPy(
            2,
            0,
            is_transactional=0,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=0,
            batch_size=batch_size,
        )

    def _set_producer_state(
        self, producer_id: int, producer_epoch: int, base_sequence: int
    ) -> None:
        self._builder.set_producer_state(producer_id, producer_epoch, base_sequence)


async def send_exact(
    producer: AIOKafkaProducer,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header],
    partition: int,
    timestamp_ms: int | None = None,
) -> asyncio.Future[Any]:
    """Queue one record exactly as given on `topic`/`partition`; returns the ack's future."""
    exact = [(_ExactName(name), v) for name, v in headers]
    size = _DefaultRecordBatchBuilderPy.estimate_size_in_bytes(key, value, exact)
    batch = _ExactBatchBuilder(size + 1024)
    appended = batch.append(timestamp=timestamp_ms, key=key, value=value, headers=exact)
    assert appended is not None, "a one-record batch always fits"
    return await producer.send_batch(batch, topic, partition=partition)


async def partition_for(producer: AIOKafkaProducer, topic: str, hint: int) -> int:
    """`hint` when `topic` has that partition, else one of its partitions chosen by it."""
    partitions = sorted(await producer.partitions_for(topic))
    return hint if hint in partitions else partitions[hint % len(partitions)]


# --- storing ---------------------------------------------------------------------------------
def headers_json(headers: Sequence[Header] | None) -> str:
    """Headers as JSON: `[name, base64 value or null]`, plus the name's bytes in base64 as a
    third item when the name is not UTF-8."""
    entries: list[list[str | None]] = []
    for name, value in headers or ():
        encoded = None if value is None else base64.b64encode(value).decode()
        try:
            name.encode()
            entries.append([name, encoded])
        except UnicodeEncodeError:
            raw = base64.b64encode(header_name_bytes(name)).decode()
            entries.append([header_name_bytes(name).decode(errors="replace"), encoded, raw])
    return json.dumps(entries)


def headers_from_json(raw: str) -> tuple[Header, ...]:
    """The headers `headers_json` wrote, exactly."""
    found: list[Header] = []
    for entry in json.loads(raw):
        name = header_name(base64.b64decode(entry[2])) if len(entry) > 2 else entry[0]
        found.append((name, None if entry[1] is None else base64.b64decode(entry[1])))
    return tuple(found)
