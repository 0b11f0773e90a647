"""Consumer-group offsets and topic positions: read them, move them (replays), read topics.

Shared by `chimera replay` and `chimera dlq` (chimera.ops) and the pipeline tests. Moving a
group's offsets is only safe while the group has no live members: their next commit would
overwrite ours, and the broker refuses a commit from outside a group that has members.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from core.errors import ChimeraError
from core.kafka import admin_options, client_options
from core.records import install_lenient_fetch
from core.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


class GroupActiveError(ChimeraError):
    """The consumer group has live members, so its offsets must not be moved."""

    def __init__(self, group: str, state: str, members: list[GroupMember]) -> None:
        """Name the group, its state and every live member (client id and host)."""
        named = ", ".join(f"{m.client_id} on {m.host}" for m in members) or "none listed"
        super().__init__(
            f"consumer group {group!r} is active ({state}, {len(members)} member(s): {named}); "
            "stop those consumers first (its offsets can only move while it is inactive)"
        )
        self.group = group
        self.state = state
        self.members = members


@dataclass(frozen=True)
class GroupMember:
    """One live member of a consumer group."""

    member_id: str
    client_id: str
    host: str


@dataclass(frozen=True)
class GroupState:
    """A consumer group as the coordinator describes it (state Dead: it does not exist)."""

    group: str
    state: str
    members: list[GroupMember]

    @property
    def active(self) -> bool:
        """Whether someone is (or is about to be) consuming in this group."""
        return bool(self.members) or self.state not in ("Empty", "Dead", "")


@dataclass
class _Session:
    """One admin client shared by the calls of one operation, and the topic names it saw."""

    admin: AIOKafkaAdminClient
    topics: set[str] | None = None


_session: ContextVar[_Session | None] = ContextVar("chimera_admin_session", default=None)


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client with the configured connection and security options (the
    session's, inside `admin_session`)."""
    shared = _session.get()
    if shared is not None:
        yield shared.admin
        return
    admin = AIOKafkaAdminClient(**admin_options(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def admin_session(settings: Settings) -> AsyncIterator[None]:
    """Share one admin client (starting one costs ~0.1 s) and one listing of the topic names
    (on a cluster with thousands of topics, another ~0.1 s) among the calls made inside."""
    if _session.get() is not None:
        yield
        return
    async with admin_client(settings) as admin:
        token = _session.set(_Session(admin))
        try:
            yield
        finally:
            _session.reset(token)


@asynccontextmanager
async def plain_consumer(
    settings: Settings,
    group: str | None = None,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer for manual assignment (never subscribes, never joins a group);
    it reads any record, header names that are not UTF-8 included."""
    install_lenient_fetch()
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    # Let the consumer's background task begin: stopping it before it ran once raises
    # CancelledError out of stop() (aiokafka 0.14, consumers without a group).
    await asyncio.sleep(0)
    try:
        yield consumer
    finally:
        await consumer.stop()


def shares_admin(
    fn: Callable[Concatenate[Settings, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Settings, P], Coroutine[Any, Any, R]]:
    """Run an operation (whose first argument is the Settings) in one `admin_session`."""

    @functools.wraps(fn)
    async def wrapper(settings: Settings, *args: P.args, **kwargs: P.kwargs) -> R:
        async with admin_session(settings):
            return await fn(settings, *args, **kwargs)

    return wrapper


async def existing_topics(settings: Settings, *, fresh: bool = False) -> set[str]:
    """Names of every topic in the cluster (listing them never auto-creates one); inside an
    `admin_session`, listed once unless `fresh`."""
    shared = _session.get()
    if shared is not None and shared.topics is not None and not fresh:
        return set(shared.topics)
    async with admin_client(settings) as admin:
        names = set(await admin.list_topics())
    if shared is not None:
        shared.topics = names
    return set(names)


async def list_partitions(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`; ChimeraError when one of them does not exist."""
    if not topics:
        return []
    missing = set(topics) - await existing_topics(settings)
    if missing:  # perhaps created since the session listed them
        missing -= await existing_topics(settings, fresh=True)
    if missing:
        raise ChimeraError(f"no such topic: {', '.join(sorted(missing))}")
    async with admin_client(settings) as admin:
        described = await admin.describe_topics(topics)
    return sorted(
        TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
    )


async def create_topic(
    settings: Settings, name: str, partitions: int, config: dict[str, str] | None = None
) -> bool:
    """Create `name` unless it exists; returns whether this call created it."""
    if name in await existing_topics(settings, fresh=True):
        return False
    async with admin_client(settings) as admin:
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=partitions,
                        replication_factor=settings.topic_replication_factor,
                        topic_configs=config or {},
                    )
                ]
            )
        except TopicAlreadyExistsError:
            return False
    # Metadata reaches the broker's cache a moment after the controller answers.
    for _ in range(50):
        if name in await existing_topics(settings, fresh=True):
            break
        await asyncio.sleep(0.1)
    return True


async def describe_group(settings: Settings, group: str) -> GroupState:
    """The group's state and live members (one group per request: aiokafka 0.14 cannot
    decode a DescribeGroups answer about several groups from Kafka 4)."""
    async with admin_client(settings) as admin:
        responses = await admin.describe_consumer_groups([group])
    for response in responses:
        for described in response.to_object()["groups"]:
            if described["group"] != group:
                continue
            if described["error_code"]:
                # E.g. a group of Kafka 4's new consumer protocol: it cannot be described
                # here, so it cannot be shown to be inactive either.
                raise ChimeraError(
                    f"cannot describe consumer group {group!r}: "
                    f"{for_code(described['error_code']).__name__}; "
                    "not touching its offsets"
                )
            members = [
                GroupMember(m["member_id"], m["client_id"], m["client_host"].lstrip("/"))
                for m in described["members"]
            ]
            return GroupState(group, described["state"], members)
    return GroupState(group, "Dead", [])


async def ensure_inactive(settings: Settings, group: str) -> GroupState:
    """Raise GroupActiveError (naming the members) unless the group has no live members."""
    state = await describe_group(settings, group)
    if state.active:
        raise GroupActiveError(group, state.state, state.members)
    return state


async def committed_offsets(
    settings: Settings,
    group: str,
    partitions: list[TopicPartition] | None = None,
) -> dict[TopicPartition, int | None]:
    """The group's committed offset per partition (None: nothing committed there).

    With `partitions` None: every partition the group has committed on.
    """
    async with admin_client(settings) as admin:
        found = await admin.list_consumer_group_offsets(group, partitions=partitions)
    result: dict[TopicPartition, int | None] = {tp: None for tp in partitions or []}
    for tp, meta in found.items():
        result[tp] = meta.offset if meta.offset >= 0 else None
    return result


async def commit_offsets(
    settings: Settings,
    group: str,
    offsets: dict[TopicPartition, int],
) -> None:
    """Commit `offsets` for `group` from outside it (the broker refuses if it has members)."""
    if not offsets:
        return
    async with plain_consumer(settings, group) as consumer:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})


def _know(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
    """Assign (paused, so nothing is fetched): the consumer then asks for these topics'
    metadata at once, instead of after a backoff (about 0.9 s otherwise)."""
    consumer.assign(partitions)
    consumer.pause(*partitions)


async def watermarks(
    settings: Settings,
    partitions: list[TopicPartition],
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(beginning, end) offsets per partition: the first retained record, the next to come."""
    if not partitions:
        return {}, {}
    async with plain_consumer(settings) as consumer:
        _know(consumer, partitions)
        beginning = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
    return beginning, end


async def offsets_at(
    settings: Settings,
    partitions: list[TopicPartition],
    timestamp_ms: int,
) -> dict[TopicPartition, int | None]:
    """Per partition, the first offset whose timestamp is at or after `timestamp_ms`
    (None: no such record yet)."""
    if not partitions:
        return {}
    async with plain_consumer(settings) as consumer:
        _know(consumer, partitions)
        found = await consumer.offsets_for_times({tp: timestamp_ms for tp in partitions})
    return {
        tp: (found[tp].offset if found.get(tp) is not None else None)  # type: ignore[union-attr]
        for tp in partitions
    }


async def read_range(
    consumer: AIOKafkaConsumer,
    ranges: dict[TopicPartition, tuple[int, int]],
    idle_seconds: float = 30.0,
) -> AsyncGenerator[ConsumerRecord[Any, Any], None]:
    """Yield the records with offsets in [start, stop) of each partition, in offset order per
    partition. `consumer` must be a plain (unsubscribed) one; it is (re)assigned here.
    ChimeraError when nothing arrives for `idle_seconds` while records are still due."""
    wanted = {tp: (start, stop) for tp, (start, stop) in ranges.items() if start < stop}
    if not wanted:
        return
    consumer.assign(list(wanted))
    for tp, (start, _) in wanted.items():
        consumer.seek(tp, start)
    pending = set(wanted)
    deadline = time.monotonic() + idle_seconds
    while pending:
        if time.monotonic() > deadline:
            raise ChimeraError(
                f"timed out reading {', '.join(f'{tp.topic}/{tp.partition}' for tp in pending)}"
            )
        batch = await consumer.getmany(*pending, timeout_ms=500)
        if batch:
            deadline = time.monotonic() + idle_seconds
        for tp, records in batch.items():
            stop = wanted[tp][1]
            for record in records:
                if record.offset < stop:
                    yield record
        for tp in list(pending):
            # Offsets may have gaps (transaction markers, compaction): go by the position.
            if await consumer.position(tp) >= wanted[tp][1]:
                pending.discard(tp)
                consumer.pause(tp)


async def reset_to_earliest(settings: Settings, group: str, topics: list[str]) -> dict[str, int]:
    """Point `group` at the first retained record of every partition of `topics`.

    Returns how many records per topic the group will see again. Commits made while the
    group has live members would be overwritten by them: stop the agent first.
    """
    partitions = await list_partitions(settings, topics)
    beginning, _ = await watermarks(settings, partitions)
    committed = await committed_offsets(settings, group, partitions)
    await commit_offsets(settings, group, {tp: beginning[tp] for tp in partitions})
    replayed: dict[str, int] = {}
    for tp in partitions:
        replayed[tp.topic] = replayed.get(tp.topic, 0) + max(
            (committed[tp] or beginning[tp]) - beginning[tp], 0
        )
    return replayed
