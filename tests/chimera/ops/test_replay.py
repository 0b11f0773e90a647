"""`chimera replay` on the real broker and database: offset resets in every mode, refusal
while a group is active, window copies, and replays through real agents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.audit.app import build as build_audit
from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.runtime.topics import ensure_topics
from chimera.ops import offsets, replay
from core.errors import ChimeraError
from core.kafka import client_options
from core.settings import Settings
from events import AuditRecorded, Topics, TrendDiscovered, encode
from events.catalog import AuditPayload
from tests.chimera.ops.opsupport import chimera, contents, flat, make_topics, send, snapshot
from tests.support import produce, read_topic, trend, wait_for

HOUR_MS = 3600 * 1000


async def committed(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    tps = [TopicPartition(topic, p) for p in range(3)]
    found = await offsets.committed_offsets(settings, group, tps)
    return {tp.partition: found[tp] for tp in tps}


async def ten_per_partition(settings: Settings, topic: str) -> int:
    """Ten records per partition; record i is stamped (10 - i) hours ago. Returns now."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    await send(
        settings,
        topic,
        [
            (p, f"k{p}".encode(), f"{p}-{i}".encode(), [], now_ms - (10 - i) * HOUR_MS)
            for p in range(3)
            for i in range(10)
        ],
    )
    return now_ms


def test_durations_and_datetimes_parse_or_say_why() -> None:
    assert replay.parse_duration("2h") == timedelta(hours=2)
    assert replay.parse_duration("30m") == timedelta(minutes=30)
    assert replay.parse_duration("1d") == timedelta(days=1)
    assert replay.parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert replay.format_duration(replay.parse_duration("1d2h30m")) == "1d2h30m"
    assert replay.Target.choose(by_duration="90m").describe() == "first record of the last 1h30m"
    for bad in ("", "2", "h", "2x", "-1h", "0m", "1h 2"):
        with pytest.raises(ChimeraError):
            replay.parse_duration(bad)
    assert replay.parse_datetime("2026-11-25T17:00:00Z") == datetime(2026, 11, 25, 17, tzinfo=UTC)
    assert replay.parse_datetime("2026-11-25 18:00+01:00") == datetime(2026, 11, 25, 17, tzinfo=UTC)
    assert replay.parse_datetime("2026-11-25T17:00").tzinfo is UTC
    with pytest.raises(ChimeraError, match="ISO 8601"):
        replay.parse_datetime("yesterday")
    with pytest.raises(ChimeraError, match="exactly one"):
        replay.Target.choose(to="earliest", to_offset=3)
    with pytest.raises(ChimeraError, match="earliest or latest"):
        replay.Target.choose(to="start")


async def test_dry_run_changes_nothing_and_execute_moves_offsets_as_printed(
    settings: Settings,
) -> None:
    await make_topics(settings)
    topic = Topics(settings.topic_prefix).trends
    group = f"{settings.topic_prefix}.orchestrator"
    now_ms = await ten_per_partition(settings, topic)
    await offsets.commit_offsets(settings, group, {TopicPartition(topic, p): 5 for p in range(3)})

    # Dry run, through the CLI: a table per partition, nothing moves.
    result = await chimera(
        settings, "replay", "--agent", "orchestrator", "--topic", "trends", "--to", "earliest"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "dry run" in lines[0] and group in lines[0]
    assert lines[1].split() == [
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "NEW",
        "REPLAYED",
        "SKIPPED",
        "NOTE",
    ]
    assert [line.split() for line in lines[2:5]] == [
        [topic, str(p), "5", "0", "5", "0"] for p in range(3)
    ]
    assert lines[5] == "3 partition(s) would move: 15 record(s) to replay, 0 to skip"
    assert await committed(settings, group, topic) == {0: 5, 1: 5, 2: 5}

    async def execute(
        target: replay.Target,
        partitions: list[int] | None = None,
    ) -> dict[int, int]:
        plan = await replay.reset_offsets(
            settings, group, [topic], target, partitions, execute=True
        )
        assert plan.executed
        return {p.partition: p.new for p in plan.partitions}

    # Each mode: the offsets committed are the ones the plan printed.
    assert await execute(replay.Target(kind="earliest")) == {0: 0, 1: 0, 2: 0}
    assert await committed(settings, group, topic) == {0: 0, 1: 0, 2: 0}
    assert await execute(replay.Target(kind="latest")) == {0: 10, 1: 10, 2: 10}
    assert await committed(settings, group, topic) == {0: 10, 1: 10, 2: 10}
    assert await execute(replay.Target(kind="offset", offset=7), [1]) == {1: 7}
    assert await committed(settings, group, topic) == {0: 10, 1: 7, 2: 10}
    at = datetime.fromtimestamp((now_ms - 5 * HOUR_MS - HOUR_MS // 2) / 1000, UTC)
    assert await execute(replay.Target.choose(to_datetime=at.isoformat()), [0, 2]) == {0: 5, 2: 5}
    assert await committed(settings, group, topic) == {0: 5, 1: 7, 2: 5}
    assert await execute(replay.Target.choose(by_duration="3h30m")) == {0: 7, 1: 7, 2: 7}
    assert await committed(settings, group, topic) == {0: 7, 1: 7, 2: 7}

    # Beyond the end is clamped (and said); a datetime after every record means latest.
    plan = await replay.plan_reset(
        settings, group, [topic], replay.Target(kind="offset", offset=99), [0]
    )
    assert (plan.partitions[0].new, plan.partitions[0].skipped) == (10, 3)
    assert "clamped" in plan.partitions[0].note
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    plan = await replay.plan_reset(
        settings, group, [topic], replay.Target.choose(to_datetime=future)
    )
    assert [p.new for p in plan.partitions] == [10, 10, 10]

    # Executed through the CLI, one chosen partition, JSON out.
    result = await chimera(
        settings,
        "replay",
        "--group",
        group,
        "--topic",
        topic,
        "--partition",
        "2",
        "--to-offset",
        "1",
        "--execute",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert '"executed": true' in result.output and '"replayed": 6' in result.output
    assert await committed(settings, group, topic) == {0: 7, 1: 7, 2: 1}

    # By group name alone: the topics it has committed on.
    plan = await replay.plan_reset(
        settings, group, await replay.group_topics(settings, group), replay.Target(kind="latest")
    )
    assert [(p.topic, p.committed, p.new, p.skipped) for p in plan.partitions] == [
        (topic, 7, 10, 3),
        (topic, 7, 10, 3),
        (topic, 1, 10, 9),
    ]
    result = await chimera(settings, "replay", "--group", group, "--to", "latest")
    assert result.exit_code == 0 and "15 to skip" in result.output, result.output
    result = await chimera(
        settings, "replay", "--group", f"{settings.topic_prefix}.no-such-group", "--to", "latest"
    )
    assert result.exit_code == 1 and "no committed offsets" in flat(result.output)

    # Bad arguments: a message, never a traceback.
    for args, expected in (
        (["--to", "earliest"], "--group NAME or --agent"),
        (["--agent", "orchestrator", "--by-duration", "2 weeks"], "not a duration"),
        (["--agent", "orchestrator", "--to", "earliest", "--partition", "7"], "not [7]"),
        (["--agent", "nobody", "--to", "latest"], "no agent 'nobody'"),
        (["--agent", "orchestrator", "--topic", "nope", "--to", "latest"], "no topic 'nope'"),
    ):
        result = await chimera(settings, "replay", *args)
        assert result.exit_code in (1, 2), (args, result.output)
        assert expected in flat(result.output), (args, result.output)
        assert "Traceback" not in result.output
    assert await committed(settings, group, topic) == {0: 7, 1: 7, 2: 1}


async def test_a_reset_is_refused_while_the_group_has_a_live_member_who_is_named(
    settings: Settings,
) -> None:
    await make_topics(settings)
    topic = Topics(settings.topic_prefix).trends
    group = f"{settings.topic_prefix}.orchestrator"
    await ten_per_partition(settings, topic)
    await offsets.commit_offsets(settings, group, {TopicPartition(topic, p): 4 for p in range(3)})
    member = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=group,
        client_id="ops-test-member",
        enable_auto_commit=False,
    )
    await member.start()
    try:
        await wait_for(lambda: _has_assignment(member), timeout=15, what="the member to join")
        with pytest.raises(offsets.GroupActiveError) as caught:
            await replay.reset_offsets(
                settings, group, [topic], replay.Target(kind="earliest"), execute=True
            )
        assert [m.client_id for m in caught.value.members] == ["ops-test-member"]
        result = await chimera(
            settings, "replay", "--agent", "orchestrator", "--to", "earliest", "--execute"
        )
        assert result.exit_code == 1
        assert "ops-test-member" in result.output and "is active" in result.output
        assert "Traceback" not in result.output
    finally:
        await member.stop()
    assert await committed(settings, group, topic) == {0: 4, 1: 4, 2: 4}
    plan = await replay.reset_offsets(
        settings, group, [topic], replay.Target(kind="earliest"), execute=True
    )  # once it left, the reset goes through
    assert plan.replayed == 12
    assert await committed(settings, group, topic) == {0: 0, 1: 0, 2: 0}


async def test_reset_to_earliest_counts_what_each_topic_replays(settings: Settings) -> None:
    await make_topics(settings)
    topics = Topics(settings.topic_prefix)
    group = f"{settings.topic_prefix}.audit"
    await ten_per_partition(settings, topics.trends)
    await offsets.commit_offsets(
        settings, group, {TopicPartition(topics.trends, 0): 6, TopicPartition(topics.trends, 2): 10}
    )
    replayed = await offsets.reset_to_earliest(settings, group, [topics.trends, topics.audit])
    assert replayed == {topics.trends: 16, topics.audit: 0}
    assert await committed(settings, group, topics.trends) == {0: 0, 1: 0, 2: 0}
    with pytest.raises(ChimeraError, match="no such topic"):
        await offsets.reset_to_earliest(settings, group, [f"{settings.topic_prefix}.nope"])


async def _has_assignment(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=100)
    return bool(consumer.assignment())


async def test_copy_takes_exactly_the_records_of_the_window(settings: Settings) -> None:
    await make_topics(settings)
    source = Topics(settings.topic_prefix).trends
    destination = f"{settings.topic_prefix}.rebuild"
    base = int(datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp() * 1000)
    before, inside, after = [], [], []
    for minute in range(30):
        partition = minute % 3
        record = (
            partition,
            f"key-{minute % 5}".encode() if minute % 4 else None,
            f"value-{minute}".encode(),
            [("source", f"s{minute}".encode())],
            base + minute * 60_000,
        )
        (before if minute < 10 else inside if minute < 20 else after).append(record)
    await send(settings, source, before + inside + after)

    since = datetime.fromtimestamp((base + 10 * 60_000) / 1000, UTC).isoformat()
    until = datetime.fromtimestamp((base + 20 * 60_000) / 1000, UTC).isoformat()
    result = await chimera(
        settings,
        "replay",
        "copy",
        "--from",
        "trends",
        "--to",
        destination,
        "--since",
        since,
        "--until",
        until,
    )
    assert result.exit_code == 0, result.output
    assert f"created topic {destination}" in result.output
    assert f"copied 10 record(s) from {source} to {destination}" in result.output

    copied = await read_topic(settings, destination, expect=10, timeout=10)
    assert sorted(((r.value, r.key, list(r.headers)) for r in copied), key=str) == sorted(
        ((value, key, headers) for _, key, value, headers, _ in inside), key=str
    )
    # Without --keep-timestamps the copies are stamped now (retention starts afresh).
    assert min(r.timestamp for r in copied) > base + 3600 * 1000

    again = await replay.copy_window(
        settings,
        source,
        destination,
        replay.parse_datetime(since),
        replay.parse_datetime(until),
        keep_timestamps=True,
    )
    assert again.copied == 10 and not again.created_destination
    copied = await read_topic(settings, destination, expect=20, timeout=10)
    assert sorted(r.timestamp for r in copied if r.timestamp < base + 3600 * 1000) == sorted(
        ts for *_, ts in inside
    )

    result = await chimera(
        settings,
        "replay",
        "copy",
        "--from",
        "trends",
        "--to",
        "x",
        "--since",
        until,
        "--until",
        since,
    )
    assert result.exit_code == 2 and "before --until" in flat(result.output)
    result = await chimera(
        settings,
        "replay",
        "copy",
        "--from",
        "trends",
        "--to",
        source,
        "--since",
        since,
        "--until",
        until,
    )
    assert result.exit_code == 1 and "must differ" in result.output


def audit_event(n: int) -> AuditRecorded:
    payload = AuditPayload.model_validate(
        {
            "id": f"audit-{n}",
            "agent_id": "generate",
            "action": "skill:skill_write_script",
            "skill_name": "skill_write_script",
            "input_data": {"n": n, "mail": "ann@example.com"},
            "output_data": {"ok": n % 2 == 0},
            "status": "success" if n % 3 else "failure",
            "timestamp": datetime(2026, 11, 25, 12, n % 60, tzinfo=UTC).isoformat(),
        },
        strict=False,
    )
    return AuditRecorded.create(payload, producer="test", correlation_id=uuid.uuid4())


async def test_replaying_the_audit_topic_into_an_emptied_audit_logs_rebuilds_it_row_for_row(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    events = [audit_event(n) for n in range(120)]
    sink = build_audit(settings)
    async with sink.running():
        await produce(
            settings,
            topics.audit,
            [(f"agent-{n % 4}".encode(), encode(e)) for n, e in enumerate(events)],
        )

        async def stored() -> bool:
            return await pool.fetchval("SELECT count(*) FROM audit_logs") == len(events)

        await wait_for(stored, timeout=20, what="the audit sink to store every event")
    before = await snapshot(pool, ("audit_logs",))
    assert len(before["audit_logs"]) == 120
    await pool.execute("DELETE FROM audit_logs")

    result = await chimera(settings, "replay", "--agent", "audit", "--to", "earliest", "--execute")
    assert result.exit_code == 0, result.output
    assert "EXECUTED" in result.output
    assert result.output.splitlines()[-1].endswith("120 record(s) to replay, 0 to skip")

    sink = build_audit(settings)
    async with sink.running():
        await wait_for(stored, timeout=20, what="the replay to rebuild audit_logs")
    assert await snapshot(pool, ("audit_logs",)) == before


async def test_replay_through_the_orchestrator_changes_no_table_and_emits_nothing(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    injected = [
        TrendDiscovered.create(trend(n, tags=["tech", f"t{n}"]), producer="test")
        for n in range(1, 6)
    ]
    # Every topic of the prefix, as the operator tools make them (`chimera inject`): an agent
    # may create only its own.
    await ensure_topics(settings)
    runtime = build_orchestrator(settings, Policy(platforms=["local"]))
    async with runtime.running():
        await produce(
            settings,
            topics.trends,
            [(e.payload.id.encode(), encode(e)) for e in injected],
        )

        async def settled() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM workflows") == 5
                and await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
            )

        await wait_for(settled, timeout=20, what="five decisions, all sent")
    tables = await snapshot(pool)
    assert len(tables["content"]) == 5 and tables["outbox"]
    emitted = await contents(settings, topics.all())
    assert len(emitted[topics.content_requests]) == 5

    result = await chimera(
        settings, "replay", "--agent", "orchestrator", "--to", "earliest", "--execute"
    )
    assert result.exit_code == 0, result.output
    assert "5 record(s) to replay" in result.output

    runtime = build_orchestrator(settings, Policy(platforms=["local"]))
    async with runtime.running():

        async def reread() -> bool:
            stats = runtime.stats()["orchestrator.trends"]
            return stats["processed"] + stats["duplicates"] >= 5

        await wait_for(reread, timeout=20, what="the orchestrator to re-read the trends")
    assert runtime.stats()["orchestrator.trends"]["processed"] == 0
    assert runtime.stats()["orchestrator.trends"]["duplicates"] == 5
    assert await snapshot(pool) == tables
    assert await contents(settings, topics.all()) == emitted
