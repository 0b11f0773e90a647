"""Dead letters: list them, show one, redrive them to their topic once fixed, purge them.

Every input topic T has a dead-letter topic `T.dlq` (agents.runtime.consumer writes the
original key, value and headers there, plus `chimera.dlq.*` headers saying why). Nothing is
deleted from a dead-letter topic here: handling a record (redriving or purging it) is
recorded, so a record is never lost, and `list` shows only what is still unhandled.

Where "handled" is kept, in Kafka only:
- the consumer group `<prefix>.dlq-handled` commits, per dead-letter partition, the offset
  below which every record is handled: it moves only past a contiguous run of handled records
  (its lag is what is left to look at, in any Kafka tool);
- the compacted topic `<prefix>.dlq-handled-log` holds one record per handled record, keyed
  `<dlq topic>/<partition>/<offset>`, valued with what was done, when, and where it went;
  it covers the handled records beyond the group's offset, and the history behind it.
The log is written before the group's offset moves, and a redrive is recorded only after the
original topic acknowledged the copy: a crash in between can at worst redrive a record twice,
which the agents' inboxes turn into a no-op.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from chimera.ops import offsets
from core.errors import ChimeraError
from core.kafka import make_producer
from core.records import header_name_bytes, send_exact
from core.settings import Settings
from events.topics import DLQ_SUFFIX
from events.wire import (
    DLQ_HEADER_PREFIX,
    ORIGINAL_TIMESTAMP,
    REDRIVEN_FROM,
    is_chimera_header,
)

log = logging.getLogger("chimera.ops.dlq")
Action = Literal["redriven", "purged"]


def handled_group(settings: Settings) -> str:
    """The consumer group whose offsets mark contiguous runs of handled dead letters."""
    return f"{settings.topic_prefix}.dlq-handled"


def handled_log(settings: Settings) -> str:
    """The compacted topic recording each handled dead letter."""
    return f"{settings.topic_prefix}.dlq-handled-log"


@dataclass(frozen=True)
class Handled:
    """What was done with a dead letter (None fields when only the group's offset says so)."""

    action: str
    at: str | None = None
    detail: str | None = None


@dataclass
class DeadLetter:
    """One record of a dead-letter topic, with the reasons its headers carry."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp_ms: int
    handled: Handled | None = None

    def header(self, name: str) -> str | None:
        """The last header called `name`, as text (None when absent or null)."""
        for key, value in reversed(self.headers):
            if key == name:
                return None if value is None else value.decode(errors="replace")
        return None

    def why(self, name: str) -> str | None:
        """A `chimera.dlq.<name>` header: why and from where it was dead-lettered."""
        return self.header(DLQ_HEADER_PREFIX + name)

    @property
    def ref(self) -> str:
        """`<dlq topic>/<partition>/<offset>`: where this dead letter is."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def error_code(self) -> str | None:
        """The error code the consumer gave (INVALID_JSON, SCHEMA_VIOLATION, ...)."""
        return self.why("error.code")

    @property
    def original_topic(self) -> str:
        """The topic the record came from: the dead-letter topic's name without `.dlq`
        (`T.dlq` holds only T's records; the header says the same)."""
        return self.topic.removesuffix(DLQ_SUFFIX)

    @property
    def original_headers(self) -> list[tuple[str, bytes | None]]:
        """The headers the record had before it was dead-lettered (and redriven)."""
        return [(k, v) for k, v in self.headers if not is_chimera_header(k)]

    @property
    def original(self) -> tuple[str, int | None, int | None]:
        """Where the refused record is: (topic, partition, offset); the dead letters of one
        record (one per consumer group that refused it, or a copy) share it."""
        summary = self.summary()
        return (
            summary["original_topic"],
            summary["original_partition"],
            summary["original_offset"],
        )

    @property
    def original_timestamp(self) -> int | None:
        """The refused record's own timestamp (ms), when the dead letter says it."""
        text = self.why(ORIGINAL_TIMESTAMP)
        return int(text) if text and text.lstrip("-").isdigit() and int(text) >= 0 else None

    def key_text(self) -> str | None:
        """The key as text, or the repr of its bytes when they are not UTF-8."""
        if self.key is None:
            return None
        try:
            return self.key.decode()
        except UnicodeDecodeError:
            return repr(self.key)

    def summary(self) -> dict[str, Any]:
        """The record's identity and reasons, without its payload."""
        original_partition = self.why("original.partition")
        original_offset = self.why("original.offset")
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key_text(),
            "error_code": self.error_code,
            "error_category": self.why("error.category"),
            "exception_class": self.why("exception.class"),
            "exception_message": self.why("exception.message"),
            "original_topic": self.why("original.topic") or self.original_topic,
            "original_partition": (
                int(original_partition)
                if original_partition and original_partition.isdigit()
                else None
            ),
            "original_offset": (
                int(original_offset) if original_offset and original_offset.isdigit() else None
            ),
            "consumer_group": self.why("consumer.group"),
            "consumer": self.why("consumer"),
            "dead_lettered_at": self.why("timestamp")
            or datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat(),
            "redriven_from": self.header(REDRIVEN_FROM),
            "handled": None
            if self.handled is None
            else {
                "action": self.handled.action,
                "at": self.handled.at,
                "detail": self.handled.detail,
            },
        }

    def details(self) -> dict[str, Any]:
        """The summary plus the original headers and payload (pretty JSON or bytes' repr);
        header names and values that are not UTF-8 are shown as the repr of their bytes."""
        return {
            **self.summary(),
            "original_timestamp": self.original_timestamp,
            "exception_stacktrace": self.why("exception.stacktrace"),
            "headers": {
                _text(header_name_bytes(k)): "null" if v is None else _text(v)
                for k, v in self.original_headers
            },
            "payload": format_payload(self.value),
        }


@dataclass
class PoisonRecord:
    """One refused record and its dead letters: one per consumer group that refused it
    (and byte-identical copies a crash may have added)."""

    letters: list[DeadLetter]

    @property
    def first(self) -> DeadLetter:
        return self.letters[0]

    @property
    def groups(self) -> list[str]:
        return sorted({d.why("consumer.group") or "?" for d in self.letters})

    @property
    def error_codes(self) -> list[str]:
        return list(dict.fromkeys(d.error_code or "?" for d in self.letters))

    @property
    def handled(self) -> bool:
        return all(d.handled is not None for d in self.letters)


def by_record(letters: Iterable[DeadLetter]) -> list[PoisonRecord]:
    """Dead letters grouped by the record they refuse, in the order of their first letter.
    A dead letter that does not say where it came from is a record of its own."""
    records: dict[Any, PoisonRecord] = {}
    for letter in sorted(letters, key=lambda d: (d.topic, d.partition, d.offset)):
        original = letter.original
        known = original[1] is not None and original[2] is not None
        ident = (letter.topic, original) if known else (letter.topic, letter.ref)
        records.setdefault(ident, PoisonRecord([])).letters.append(letter)
    return list(records.values())


def _text(raw: bytes) -> str:
    """UTF-8 text as it is, other bytes as their repr (b'\\xff\\xfe')."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return repr(raw)


def format_payload(value: bytes | None) -> str:
    """Pretty JSON when the bytes are JSON, else the repr of the bytes."""
    if value is None:
        return "None (a tombstone)"
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False, sort_keys=False)
    except (UnicodeDecodeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class Selection:
    """Which dead letters of a topic: given ones, all unhandled, or those with an error code.

    `records` are (partition, offset) pairs; `partitions` narrows `all_` and `error_code`.
    """

    records: tuple[tuple[int, int], ...] = ()
    all_: bool = False
    error_code: str | None = None
    partitions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        """Exactly one way of choosing: ChimeraError otherwise."""
        chosen = sum((bool(self.records), self.all_, self.error_code is not None))
        if chosen != 1:
            raise ChimeraError(
                "choose the records: --offset (repeatable), --all, or "
                "--error-code CODE (exactly one)"
            )

    @staticmethod
    def parse_offsets(items: Iterable[str], partition: int | None) -> tuple[tuple[int, int], ...]:
        """`P:N` items, or bare `N` items with `partition` given."""
        parsed = []
        for item in items:
            text = item.strip()
            if ":" in text:
                part, _, off = text.partition(":")
            elif partition is not None:
                part, off = str(partition), text
            else:
                raise ChimeraError(
                    f"offset {item!r} needs its partition: write P:N "
                    "(e.g. 0:12) or give --partition"
                )
            if not (part.isdigit() and off.isdigit()):
                raise ChimeraError(f"not PARTITION:OFFSET: {item!r}")
            parsed.append((int(part), int(off)))
        return tuple(parsed)


@dataclass
class HandledState:
    """Per dead-letter partition: the group's floor, and the logged handled records."""

    floors: dict[TopicPartition, int | None] = field(default_factory=dict)
    logged: dict[tuple[str, int, int], Handled] = field(default_factory=dict)

    def of(self, topic: str, partition: int, offset: int) -> Handled | None:
        """How this record was handled (None: it was not)."""
        logged = self.logged.get((topic, partition, offset))
        if logged is not None:
            return logged
        floor = self.floors.get(TopicPartition(topic, partition))
        if floor is not None and offset < floor:
            return Handled("handled")
        return None


async def dlq_topics(settings: Settings, topic: str | None = None) -> list[str]:
    """Every `*.dlq` topic under the prefix, or the one `topic` names (full name, original
    topic, or stream name: `trends` → `<prefix>.trends.dlq`)."""
    existing = await offsets.existing_topics(settings)
    if topic is None:
        return sorted(
            t
            for t in existing
            if t.startswith(f"{settings.topic_prefix}.") and t.endswith(DLQ_SUFFIX)
        )
    for candidate in (
        topic,
        topic + DLQ_SUFFIX,
        f"{settings.topic_prefix}.{topic}",
        f"{settings.topic_prefix}.{topic}{DLQ_SUFFIX}",
    ):
        if candidate.endswith(DLQ_SUFFIX) and candidate in existing:
            return [candidate]
    raise ChimeraError(
        f"no dead-letter topic for {topic!r} "
        f"(`chimera dlq list` shows those under {settings.topic_prefix!r})"
    )


async def _read_log(settings: Settings) -> dict[tuple[str, int, int], Handled]:
    name = handled_log(settings)
    if name not in await offsets.existing_topics(settings):
        return {}
    partitions = await offsets.list_partitions(settings, [name])
    beginning, end = await offsets.watermarks(settings, partitions)
    logged: dict[tuple[str, int, int], Handled] = {}
    async with offsets.plain_consumer(settings) as consumer:
        async for record in offsets.read_range(
            consumer, {tp: (beginning[tp], end[tp]) for tp in partitions}
        ):
            try:
                ref = _parse_ref(record.key)
                if record.value is None:
                    logged.pop(ref, None)
                    continue
                data = json.loads(record.value)
                logged[ref] = Handled(str(data["action"]), data.get("at"), data.get("detail"))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("ignoring a malformed entry in %s at offset %d", name, record.offset)
    return logged


def _parse_ref(key: bytes | None) -> tuple[str, int, int]:
    """`<topic>/<partition>/<offset>` (topic names cannot contain a slash)."""
    if key is None:
        raise ValueError("no key")
    topic, part, offset = key.decode().split("/")
    return topic, int(part), int(offset)


async def handled_state(settings: Settings, partitions: list[TopicPartition]) -> HandledState:
    """What is handled on these dead-letter partitions."""
    floors = await offsets.committed_offsets(settings, handled_group(settings), partitions)
    return HandledState(floors, await _read_log(settings))


async def read_dead_letters(
    settings: Settings,
    topics: list[str],
    *,
    include_handled: bool = False,
    partitions: Iterable[int] = (),
) -> tuple[list[DeadLetter], HandledState]:
    """The records of these dead-letter topics (unhandled ones unless `include_handled`),
    each marked with how it was handled; and the handled state they were judged by."""
    tps = await offsets.list_partitions(settings, topics)
    if partitions:
        tps = [tp for tp in tps if tp.partition in set(partitions)]
    state = await handled_state(settings, tps)
    beginning, end = await offsets.watermarks(settings, tps)
    ranges = {}
    for tp in tps:
        floor = state.floors.get(tp)
        start = beginning[tp] if include_handled or floor is None else max(floor, beginning[tp])
        ranges[tp] = (start, end[tp])
    found: list[DeadLetter] = []
    async with offsets.plain_consumer(settings) as consumer:
        async for record in offsets.read_range(consumer, ranges):
            letter = DeadLetter(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                list(record.headers or ()),
                record.timestamp,
            )
            letter.handled = state.of(record.topic, record.partition, record.offset)
            if include_handled or letter.handled is None:
                found.append(letter)
    found.sort(key=lambda d: (d.topic, d.partition, d.offset))
    return found, state


@offsets.shares_admin
async def list_dead_letters(
    settings: Settings, topic: str | None = None, *, include_handled: bool = False
) -> dict[str, list[DeadLetter]]:
    """Dead letters per dead-letter topic (every topic listed, even when it has none)."""
    topics = await dlq_topics(settings, topic)
    letters, _ = await read_dead_letters(settings, topics, include_handled=include_handled)
    result: dict[str, list[DeadLetter]] = {t: [] for t in topics}
    for letter in letters:
        result[letter.topic].append(letter)
    return result


@offsets.shares_admin
async def list_poison_records(
    settings: Settings, topic: str | None = None, *, include_handled: bool = False
) -> dict[str, list[PoisonRecord]]:
    """Per dead-letter topic, the refused records with their dead letters (see `by_record`)."""
    found = await list_dead_letters(settings, topic, include_handled=include_handled)
    return {name: by_record(letters) for name, letters in found.items()}


@offsets.shares_admin
async def show(settings: Settings, topic: str, partition: int, offset: int) -> DeadLetter:
    """One dead letter, handled or not."""
    [name] = await dlq_topics(settings, topic)
    tp = TopicPartition(name, partition)
    if tp not in await offsets.list_partitions(settings, [name]):
        raise ChimeraError(f"{name} has no partition {partition}")
    beginning, end = await offsets.watermarks(settings, [tp])
    if not beginning[tp] <= offset < end[tp]:
        holds = (
            f"offsets {beginning[tp]}..{end[tp] - 1}" if end[tp] > beginning[tp] else "no records"
        )
        raise ChimeraError(
            f"no record at {name}/{partition}/{offset} (the partition holds {holds})"
        )
    state = await handled_state(settings, [tp])
    async with (
        offsets.plain_consumer(settings) as consumer,
        aclosing(offsets.read_range(consumer, {tp: (offset, offset + 1)})) as records,
    ):
        async for record in records:
            letter = DeadLetter(
                name,
                partition,
                record.offset,
                record.key,
                record.value,
                list(record.headers or ()),
                record.timestamp,
            )
            letter.handled = state.of(name, partition, record.offset)
            return letter
    raise ChimeraError(f"no record at {name}/{partition}/{offset} (compacted or deleted)")


@offsets.shares_admin
async def select(
    settings: Settings,
    topic: str,
    selection: Selection,
) -> tuple[str, list[DeadLetter], HandledState]:
    """The dead letters a selection names; explicit ones must exist and be unhandled."""
    [name] = await dlq_topics(settings, topic)
    if selection.records:
        wanted = set(selection.records)
        letters, state = await read_dead_letters(
            settings, [name], include_handled=True, partitions={p for p, _ in wanted}
        )
        by_ref = {(d.partition, d.offset): d for d in letters}
        missing = sorted(wanted - set(by_ref))
        if missing:
            raise ChimeraError(
                f"no record in {name} at " + ", ".join(f"{p}:{o}" for p, o in missing)
            )
        done = [by_ref[r] for r in sorted(wanted) if by_ref[r].handled is not None]
        if done:
            raise ChimeraError(
                "already handled, nothing done: "
                + ", ".join(
                    f"{d.partition}:{d.offset} ({d.handled.action if d.handled else ''})"
                    for d in done
                )
            )
        return name, [by_ref[r] for r in sorted(wanted)], state
    letters, state = await read_dead_letters(settings, [name], partitions=selection.partitions)
    if selection.error_code is not None:
        letters = [d for d in letters if d.error_code == selection.error_code]
    return name, letters, state


async def _with_siblings(
    settings: Settings, name: str, letters: list[DeadLetter]
) -> list[DeadLetter]:
    """`letters` and the other unhandled dead letters of the same records (other groups')."""
    if not letters:
        return letters
    wanted = {d.original for d in letters if d.original[2] is not None}
    unhandled, _ = await read_dead_letters(settings, [name])
    chosen = {d.ref: d for d in letters}
    for letter in unhandled:
        if letter.original in wanted:
            chosen.setdefault(letter.ref, letter)
    return sorted(chosen.values(), key=lambda d: (d.partition, d.offset))


async def _mark_handled(
    settings: Settings,
    letters: list[DeadLetter],
    state: HandledState,
    action: Action,
    details: dict[str, str],
) -> None:
    """Log each letter as handled, then move the group past contiguous handled runs."""
    if not letters:
        return
    log_topic = handled_log(settings)
    await offsets.create_topic(settings, log_topic, 1, {"cleanup.policy": "compact"})
    now = datetime.now(UTC).isoformat()
    producer = make_producer(settings, client_id="chimera-dlq")
    await producer.start()
    try:
        acks = []
        for letter in letters:
            handled = Handled(action, now, details.get(letter.ref))
            value = json.dumps({"action": action, "at": now, "detail": handled.detail})
            acks.append(await producer.send(log_topic, value.encode(), key=letter.ref.encode()))
            state.logged[(letter.topic, letter.partition, letter.offset)] = handled
            letter.handled = handled
        for ack in acks:
            await ack
    finally:
        await producer.stop()
    await _advance_floors(
        settings, sorted({TopicPartition(d.topic, d.partition) for d in letters}), state
    )


async def _advance_floors(
    settings: Settings, tps: list[TopicPartition], state: HandledState
) -> None:
    """Commit, per partition, the first offset that is not handled (or the end)."""
    beginning, end = await offsets.watermarks(settings, tps)
    moves: dict[TopicPartition, int] = {}
    async with offsets.plain_consumer(settings) as consumer:
        for tp in tps:
            floor = max(state.floors.get(tp) or 0, beginning[tp])
            new = end[tp]
            async with aclosing(offsets.read_range(consumer, {tp: (floor, end[tp])})) as records:
                async for record in records:
                    if state.of(tp.topic, tp.partition, record.offset) is None:
                        new = record.offset
                        break
            if new != state.floors.get(tp):
                moves[tp] = new
    await offsets.commit_offsets(settings, handled_group(settings), moves)
    state.floors.update(moves)


@dataclass
class Redriven:
    """A dead letter sent back to its topic, and where it landed."""

    letter: DeadLetter
    topic: str
    partition: int
    offset: int


@offsets.shares_admin
async def redrive(settings: Settings, topic: str, selection: Selection) -> list[Redriven]:
    """Send the selected refused records back to their original topic, once per record
    however many groups refused it (same key, its own timestamp, original headers without
    `chimera.dlq.*`, plus `chimera.redriven-from`), then mark every dead letter of them
    handled."""
    name, chosen, state = await select(settings, topic, selection)
    letters = await _with_siblings(settings, name, chosen)
    if not letters:
        return []
    odd = [d.ref for d in letters if d.why("original.topic") not in (None, d.original_topic)]
    if odd:
        raise ChimeraError(
            "the original-topic header disagrees with the dead-letter topic's "
            f"name for {', '.join(odd)}; nothing redriven"
        )
    existing = await offsets.existing_topics(settings)
    targets = {d.original_topic for d in letters}
    missing = sorted(targets - existing)
    if missing:
        missing = sorted(targets - await offsets.existing_topics(settings, fresh=True))
    if missing:
        raise ChimeraError(f"original topic missing: {', '.join(missing)}; nothing redriven")
    counts = {t: len(await offsets.list_partitions(settings, [t])) for t in targets}
    records = by_record(letters)
    producer = make_producer(settings, client_id="chimera-dlq-redrive")
    await producer.start()
    done: list[Redriven] = []
    try:
        pending = []
        for record in records:
            letter = record.first
            pending.append(
                (
                    record,
                    await send_exact(
                        producer,
                        letter.original_topic,
                        key=letter.key,
                        value=letter.value,
                        headers=[*letter.original_headers, (REDRIVEN_FROM, letter.ref.encode())],
                        partition=_redrive_partition(letter, counts[letter.original_topic]),
                        timestamp_ms=letter.original_timestamp,
                    ),
                )
            )
        for record, ack in pending:
            meta = await ack
            done += [Redriven(d, meta.topic, meta.partition, meta.offset) for d in record.letters]
    finally:
        await producer.stop()
    await _mark_handled(
        settings,
        letters,
        state,
        "redriven",
        {r.letter.ref: f"{r.topic}/{r.partition}/{r.offset}" for r in done},
    )
    return done


def _redrive_partition(letter: DeadLetter, count: int) -> int:
    """Where a producer would put it: by its key (Kafka's default partitioner), else the
    partition it came from (when the topic still has it)."""
    partitions = list(range(count))
    if letter.key is not None:
        return int(DefaultPartitioner()(letter.key, partitions, partitions))
    original = letter.summary()["original_partition"]
    return original if original is not None and original < count else 0


@offsets.shares_admin
async def purge(settings: Settings, topic: str, selection: Selection) -> list[DeadLetter]:
    """Mark the selected dead letters, and the other groups' dead letters of the same records,
    handled without sending them anywhere (they stay in the topic until its retention removes
    them; `list --all` still shows them)."""
    name, chosen, state = await select(settings, topic, selection)
    letters = await _with_siblings(settings, name, chosen)
    await _mark_handled(settings, letters, state, "purged", {})
    return letters
