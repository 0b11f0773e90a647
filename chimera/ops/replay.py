"""Replays: move a consumer group's offsets, or copy a time window of a topic elsewhere.

`reset_offsets` is `kafka-consumer-groups --reset-offsets` for Chimera's groups: targets
earliest, latest, an offset, a datetime or a duration ago; all partitions or chosen ones;
a plan (dry run) unless `execute`; refused while the group has live members. Replays are
harmless by design (every agent's inbox drops events it has handled), so moving a group back
re-reads, and moving it forward skips.

`copy_window` copies the records of a topic between two times into another topic (keys,
headers and values as they were), for re-processing into a fresh group or a rebuild.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiokafka import TopicPartition

from chimera.ops import offsets
from core.errors import ChimeraError
from core.kafka import make_producer
from core.settings import Settings

TargetKind = Literal["earliest", "latest", "offset", "datetime", "duration"]
_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`2h`, `30m`, `1d`, `90s`, `1w`, or a sum such as `1h30m`; ChimeraError otherwise."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ChimeraError(f"not a duration: {text!r} (use e.g. 2h, 30m, 1d, 1h30m)")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
    if total <= timedelta(0):
        raise ChimeraError(f"duration must be positive: {text!r}")
    return total


def format_duration(span: timedelta) -> str:
    """The inverse of parse_duration: `1h30m`, `2d`, `45s`."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_datetime(text: str) -> datetime:
    """ISO 8601 (`2026-11-25T17:00:00Z`, `2026-11-25 17:00+01:00`); no zone means UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ChimeraError(
            f"not an ISO 8601 datetime: {text!r} (e.g. 2026-11-25T17:00:00Z)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    """Where to move the group: one of earliest, latest, an offset, a time or a duration ago."""

    kind: TargetKind
    offset: int | None = None
    at: datetime | None = None
    ago: timedelta | None = None

    @classmethod
    def choose(
        cls,
        *,
        to: str | None = None,
        to_offset: int | None = None,
        to_datetime: str | None = None,
        by_duration: str | None = None,
    ) -> Target:
        """Exactly one of the options, validated (ChimeraError otherwise)."""
        given = [
            name
            for name, value in (
                ("--to", to),
                ("--to-offset", to_offset),
                ("--to-datetime", to_datetime),
                ("--by-duration", by_duration),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ChimeraError(
                "choose exactly one of --to earliest|latest, --to-offset N, "
                f"--to-datetime ISO8601, --by-duration 2h (got {len(given)})"
            )
        if to is not None:
            if to not in ("earliest", "latest"):
                raise ChimeraError(f"--to takes earliest or latest, not {to!r}")
            return cls(kind=to)  # type: ignore[arg-type]
        if to_offset is not None:
            if to_offset < 0:
                raise ChimeraError(f"--to-offset must be 0 or more, not {to_offset}")
            return cls(kind="offset", offset=to_offset)
        if to_datetime is not None:
            return cls(kind="datetime", at=parse_datetime(to_datetime))
        assert by_duration is not None
        return cls(kind="duration", ago=parse_duration(by_duration))

    def describe(self) -> str:
        """The target in words, for the plan's heading."""
        if self.kind == "offset":
            return f"offset {self.offset}"
        if self.kind == "datetime":
            assert self.at is not None
            return f"first record at or after {self.at.isoformat()}"
        if self.kind == "duration":
            assert self.ago is not None
            return f"first record of the last {format_duration(self.ago)}"
        return self.kind

    def timestamp_ms(self, now: datetime | None = None) -> int | None:
        """The target as a Kafka timestamp, for datetime and duration targets."""
        if self.kind == "datetime":
            assert self.at is not None
            return int(self.at.timestamp() * 1000)
        if self.kind == "duration":
            assert self.ago is not None
            return int(((now or datetime.now(UTC)) - self.ago).timestamp() * 1000)
        return None


@dataclass(frozen=True)
class PartitionPlan:
    """One partition's move: from where the group is to where it will be."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed here (it starts at earliest)
    current: int  # where the group would read next now
    new: int  # where it will read next after the reset
    beginning: int
    end: int
    note: str = ""

    @property
    def replayed(self) -> int:
        """Records the group will read again."""
        return max(self.current - self.new, 0)

    @property
    def skipped(self) -> int:
        """Records the group will never read."""
        return max(self.new - self.current, 0)


@dataclass
class ReplayPlan:
    """A reset of one group's offsets, planned (dry run) or applied (`executed`)."""

    group: str
    target: str
    topics: list[str]
    partitions: list[PartitionPlan]
    executed: bool = False

    @property
    def replayed(self) -> int:
        """Records the group will read again, over every partition."""
        return sum(p.replayed for p in self.partitions)

    @property
    def skipped(self) -> int:
        """Records the group will never read, over every partition."""
        return sum(p.skipped for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with per-partition replayed/skipped counts."""
        return {
            "group": self.group,
            "target": self.target,
            "topics": self.topics,
            "executed": self.executed,
            "replayed": self.replayed,
            "skipped": self.skipped,
            "partitions": [
                {**asdict(p), "replayed": p.replayed, "skipped": p.skipped} for p in self.partitions
            ],
        }


def agent_group(settings: Settings, agent: str) -> str:
    """The consumer group of a Chimera agent: `<prefix>.<agent>`."""
    import agents

    if agent not in agents.AGENTS:
        raise ChimeraError(f"no agent {agent!r}; choose one of {', '.join(agents.AGENTS)}")
    return f"{settings.topic_prefix}.{agent}"


def agent_topics(settings: Settings, agent: str) -> list[str]:
    """The topics an agent consumes (its subscriptions; nothing is started)."""
    import agents

    agent_group(settings, agent)  # validates the name
    runtime = agents.build(agent, settings)
    return sorted({sub.topic for sub in runtime.subscriptions})


async def resolve_topic(settings: Settings, name: str, existing: set[str] | None = None) -> str:
    """A topic by full name, or by stream name under the prefix (`trends`)."""
    existing = existing if existing is not None else await offsets.existing_topics(settings)
    for candidate in (name, f"{settings.topic_prefix}.{name}"):
        if candidate in existing:
            return candidate
    raise ChimeraError(f"no topic {name!r} (nor {settings.topic_prefix}.{name})")


async def reset_topics(
    settings: Settings, group: str, agent: str | None, topics: Sequence[str] = ()
) -> list[str]:
    """The topics a reset of `group` moves: the named ones (full names or streams), else the
    agent's, else those the group has committed on (ChimeraError when there are none)."""
    if topics:
        existing = await offsets.existing_topics(settings)
        return [await resolve_topic(settings, t, existing) for t in topics]
    if agent:
        return agent_topics(settings, agent)
    found = await group_topics(settings, group)
    if not found:
        raise ChimeraError(
            f"group {group!r} has no committed offsets; name the topics with --topic"
        )
    return found


@offsets.shares_admin
async def plan_reset(
    settings: Settings,
    group: str,
    topics: list[str],
    target: Target,
    partitions: list[int] | None = None,
) -> ReplayPlan:
    """What a reset would do, per partition; moves nothing."""
    if not topics:
        raise ChimeraError("no topics to reset")
    all_partitions = await offsets.list_partitions(settings, topics)
    chosen = all_partitions
    if partitions:
        chosen = [tp for tp in all_partitions if tp.partition in set(partitions)]
        for topic in topics:
            have = {tp.partition for tp in all_partitions if tp.topic == topic}
            missing = sorted(set(partitions) - have)
            if missing:
                raise ChimeraError(f"topic {topic} has partitions {sorted(have)}, not {missing}")
    beginning, end = await offsets.watermarks(settings, chosen)
    committed = await offsets.committed_offsets(settings, group, chosen)
    at: dict[TopicPartition, int | None] = {}
    stamp = target.timestamp_ms()
    if stamp is not None:
        at = await offsets.offsets_at(settings, chosen, stamp)
    plans = []
    for tp in chosen:
        low, high = beginning[tp], end[tp]
        done = committed[tp]
        current = low if done is None else min(max(done, low), high)
        note = ""
        if target.kind == "earliest":
            new = low
        elif target.kind == "latest":
            new = high
        elif target.kind == "offset":
            assert target.offset is not None
            new = min(max(target.offset, low), high)
            if new != target.offset:
                note = f"offset {target.offset} is outside [{low}, {high}]: clamped"
        else:
            found = at[tp]
            new = high if found is None else found
            if found is None:
                note = "no record that recent: latest"
        plans.append(PartitionPlan(tp.topic, tp.partition, done, current, new, low, high, note))
    return ReplayPlan(group, target.describe(), sorted(set(topics)), plans)


@offsets.shares_admin
async def reset_offsets(
    settings: Settings,
    group: str,
    topics: list[str],
    target: Target,
    partitions: list[int] | None = None,
    *,
    execute: bool = False,
) -> ReplayPlan:
    """Plan a reset and, with `execute`, apply it. Refused (GroupActiveError, naming the
    members) while the group has live members, dry run or not, like kafka-consumer-groups."""
    await offsets.ensure_inactive(settings, group)
    plan = await plan_reset(settings, group, topics, target, partitions)
    if execute:
        await offsets.ensure_inactive(settings, group)
        await offsets.commit_offsets(
            settings, group, {TopicPartition(p.topic, p.partition): p.new for p in plan.partitions}
        )
        plan.executed = True
    return plan


async def group_topics(settings: Settings, group: str) -> list[str]:
    """The topics a group has committed offsets on."""
    return sorted({tp.topic for tp in await offsets.committed_offsets(settings, group)})


@dataclass
class CopyResult:
    """What `copy_window` copied, per source partition."""

    source: str
    destination: str
    since: datetime
    until: datetime
    created_destination: bool
    per_partition: dict[int, int] = field(default_factory=dict)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def copied(self) -> int:
        """Records copied in all."""
        return sum(self.per_partition.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, per source partition."""
        return {
            "source": self.source,
            "destination": self.destination,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "created_destination": self.created_destination,
            "copied": self.copied,
            "partitions": [
                {
                    "partition": p,
                    "from_offset": r[0],
                    "to_offset": r[1],
                    "copied": self.per_partition.get(p, 0),
                }
                for p, r in sorted(self.ranges.items())
            ],
        }


@offsets.shares_admin
async def copy_window(
    settings: Settings,
    source: str,
    destination: str,
    since: datetime,
    until: datetime,
    *,
    keep_timestamps: bool = False,
) -> CopyResult:
    """Copy the records of `source` from the first at or after `since` up to (not including)
    the first at or after `until`, per partition, into `destination`.

    Keys, headers and values are copied unchanged; a record with a key goes where the key
    sends it (the events' order per key is kept), one without keeps its partition number.
    The destination is created with the source's partition count when missing. Timestamps
    are new unless `keep_timestamps` (old ones may fall to retention soon after the copy).
    """
    if since >= until:
        raise ChimeraError(
            f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})"
        )
    existing = await offsets.existing_topics(settings)
    source = await resolve_topic(settings, source, existing)
    if destination in (source, source.removeprefix(f"{settings.topic_prefix}.")):
        raise ChimeraError("the destination must differ from the source")
    if destination not in existing and f"{settings.topic_prefix}.{destination}" in existing:
        destination = f"{settings.topic_prefix}.{destination}"
    partitions = await offsets.list_partitions(settings, [source])
    created = await offsets.create_topic(settings, destination, len(partitions))
    dest_count = len(await offsets.list_partitions(settings, [destination]))
    _, end = await offsets.watermarks(settings, partitions)
    first = await offsets.offsets_at(settings, partitions, int(since.timestamp() * 1000))
    last = await offsets.offsets_at(settings, partitions, int(until.timestamp() * 1000))
    ranges: dict[TopicPartition, tuple[int, int]] = {}
    for tp in partitions:
        start = first[tp]
        stop = last[tp] if last[tp] is not None else end[tp]
        ranges[tp] = (start, stop) if start is not None and stop is not None else (0, 0)
    result = CopyResult(
        source,
        destination,
        since,
        until,
        created,
        per_partition={tp.partition: 0 for tp in partitions},
        ranges={tp.partition: r for tp, r in ranges.items()},
    )
    producer = make_producer(settings, client_id="chimera-replay-copy")
    await producer.start()
    try:
        async with offsets.plain_consumer(settings) as consumer:
            acks = []
            async for record in offsets.read_range(consumer, ranges):
                acks.append(
                    await producer.send(
                        destination,
                        record.value,
                        key=record.key,
                        headers=list(record.headers or ()),
                        partition=(record.partition % dest_count) if record.key is None else None,
                        timestamp_ms=record.timestamp if keep_timestamps else None,
                    )
                )
                result.per_partition[record.partition] += 1
            for ack in acks:
                await ack
    finally:
        await producer.stop()
    return result
