"""`chimera status` on the real broker and database: groups, lag, dead letters, alerts, health."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from typer.testing import CliRunner

import agents
from agents.audit.app import build as build_audit
from agents.runtime.topics import ensure_topics
from chimera.cli import app
from chimera.ops.status import StatusSettings, collect, dlq_handled_group, render
from core.credentials import process_env
from core.kafka import client_options
from core.settings import Settings
from events import Topics
from tests.support import produce, wait_for

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI sees this test's broker, database and topic prefix through the environment."""
    for name, value in process_env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("MAX_LAG", "OUTBOX_STALE_SECONDS", "ALERTS", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"CHIMERA_STATUS_{name}", raising=False)
    return settings


async def _commit(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


def test_a_healthy_system_exits_0_in_both_formats(cli_env: Settings) -> None:
    asyncio.run(ensure_topics(cli_env))

    table = runner.invoke(app, ["status"])
    assert table.exit_code == 0, table.output
    assert table.output.startswith("HEALTHY")
    assert "DEAD LETTERS" in table.output and "LATEST ALERTS (0)" in table.output

    as_json = runner.invoke(app, ["status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["healthy"] is True and report["problems"] == []
    assert report["kafka_up"] and report["database_up"]
    assert list(report["agents"]) == list(agents.AGENTS)
    topics = Topics(cli_env.topic_prefix)
    assert report["agents"]["orchestrator"]["group"] == f"{cli_env.topic_prefix}.orchestrator"
    assert set(report["agents"]["orchestrator"]["topics"]) == {
        topics.trends,
        topics.content_events,
        topics.publish_events,
        topics.review_commands,
    }
    for group in report["agents"].values():
        assert group["lag"] == 0 and group["state"] == "absent" and group["members"] == []
        for topic in group["topics"].values():
            assert len(topic["partitions"]) == cli_env.topic_partitions
    assert set(report["dead_letters"]) == {Topics.dlq(t) for t in topics.all(with_dlq=False)}
    assert all(d["depth"] == 0 for d in report["dead_letters"].values())
    assert report["missing_topics"] == [] and report["alerts"] == []
    # nothing running is a warning, not a failure
    assert any("no running consumer" in w for w in report["warnings"])


def test_lag_of_an_unconsumed_topic_is_shown_and_judged(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = Topics(cli_env.topic_prefix)
    asyncio.run(ensure_topics(cli_env))
    # five requests for the generate agent, which is not running; one key, one partition
    asyncio.run(produce(cli_env, topics.content_requests, [(b"c-1", b'{"any": "bytes"}')] * 5))

    report = asyncio.run(collect(cli_env, StatusSettings(max_lag=10)))
    generate = report["agents"]["generate"]
    assert generate["lag"] == 5 and report["healthy"]
    rows = generate["topics"][topics.content_requests]["partitions"]
    (busy,) = [r for r in rows if r["lag"]]
    assert busy == {"partition": busy["partition"], "end": 5, "committed": None, "lag": 5}
    assert all(g["lag"] == 0 for name, g in report["agents"].items() if name != "generate")

    # the group has handled two of them: the lag counts from its committed offset
    tp = TopicPartition(topics.content_requests, busy["partition"])
    asyncio.run(_commit(cli_env, f"{cli_env.topic_prefix}.generate", {tp: 2}))
    report = asyncio.run(collect(cli_env, StatusSettings(max_lag=10)))
    (busy,) = [
        r
        for r in report["agents"]["generate"]["topics"][topics.content_requests]["partitions"]
        if r["lag"]
    ]
    assert (busy["committed"], busy["lag"]) == (2, 3)
    assert report["agents"]["generate"]["state"] == "Empty"  # exists, nobody running

    # above the threshold: unhealthy, through the CLI and its setting
    monkeypatch.setenv("CHIMERA_STATUS_MAX_LAG", "2")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("UNHEALTHY")
    assert "generate is 3 record(s) behind (more than CHIMERA_STATUS_MAX_LAG=2)" in result.output
    assert f"{topics.content_requests} [" in result.output


def test_kafka_and_database_down_are_unhealthy(
    monkeypatch: pytest.MonkeyPatch, topic_prefix: str
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    monkeypatch.setenv("CHIMERA_TOPIC_PREFIX", topic_prefix)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["healthy"] is False
    assert not report["kafka_up"] and not report["database_up"]
    assert any(p.startswith("kafka does not answer") for p in report["problems"])
    assert any(p.startswith("database does not answer") for p in report["problems"])


async def test_a_dead_letter_and_its_alert_show_up(settings: Settings) -> None:
    topics = Topics(settings.topic_prefix)
    dlq = Topics.dlq(topics.audit)
    runtime = build_audit(settings)
    async with runtime.running():
        await produce(settings, topics.audit, [(b"generate", b"{not json")])

        async def dead_lettered() -> bool:
            return runtime.stats()["audit.sink"]["dead_lettered"] >= 1

        await wait_for(dead_lettered, what="the poison record dead-lettered")

        async def reported() -> dict:
            report = await collect(settings, StatusSettings())
            return (
                report
                if (
                    report["dead_letters"][dlq]["depth"]
                    and report["alerts"]
                    and report["agents"]["audit"]["members"]
                    and report["agents"]["audit"]["lag"] == 0
                )
                else {}
            )

        report: dict = {}

        async def ready() -> bool:
            nonlocal report
            report = await reported()
            return bool(report)

        await wait_for(ready, timeout=30, what="dead letter, alert, member and commit reported")

    audit = report["agents"]["audit"]
    assert audit["state"] == "Stable"
    (member,) = audit["members"]
    assert member["client_id"] == "chimera-audit" and member["host"]
    assert member["assigned"] == [
        f"{topics.audit}[{','.join(map(str, range(settings.topic_partitions)))}]"
    ]
    assert report["dead_letters"][dlq] == {"depth": 1, "unhandled": None}
    assert all(d["depth"] == 0 for t, d in report["dead_letters"].items() if t != dlq)
    (alert,) = report["alerts"]
    assert alert["source"] == "audit" and alert["code"] == "INVALID_JSON"
    assert alert["subject"].startswith(f"{topics.audit}/")
    # a dead letter warns; it does not make the system unhealthy
    assert report["healthy"] is True
    assert f"{dlq}: 1 dead letter(s)" in report["warnings"]
    text = render(report)
    assert "INVALID_JSON" in text and f"{dlq}" in text and "member chimera-audit on" in text

    # `chimera dlq` marks it handled in its group: nothing is waiting any more
    reader = AIOKafkaConsumer(**client_options(settings))
    await reader.start()
    try:
        ends = await reader.end_offsets(
            [TopicPartition(dlq, p) for p in range(settings.topic_partitions)]
        )
    finally:
        await reader.stop()
    (tp,) = [tp for tp, end in ends.items() if end]
    await _commit(settings, dlq_handled_group(settings), {tp: 1})
    report = await collect(settings, StatusSettings())
    assert report["dead_letters"][dlq] == {"depth": 1, "unhandled": 0}
    assert report["dlq_handled_group"] == dlq_handled_group(settings)
    assert not any("dead letter" in w for w in report["warnings"])
