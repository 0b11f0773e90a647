"""The orchestrator on the real broker and database: decisions, order, dead letters, dupes."""

from __future__ import annotations

import json

import asyncpg

from agents.orchestrator.app import build
from agents.orchestrator.policy import Policy
from core.settings import Settings
from events import ContentRequested, Topics, TrendDiscovered, decode, encode
from tests.support import produce, read_topic, trend, wait_for


async def test_injected_trends_become_content_requests_in_key_order(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    policy = Policy(deny_tags=["spam"], topic_cooldown_hours=24)
    events = [TrendDiscovered.create(trend(n), producer="test") for n in range(1, 7)]
    events.append(TrendDiscovered.create(trend(7, tags=["spam"]), producer="test"))
    events.append(
        TrendDiscovered.create(trend(8, topic="Topic 1", id="feed:again"), producer="test")
    )
    runtime = build(settings, policy)
    async with runtime.running():
        await produce(
            settings,
            topics.trends,
            [(e.payload.id.encode(), encode(e)) for e in events],
        )

        async def decided() -> bool:
            return await pool.fetchval("SELECT count(*) FROM workflows") == len(events)

        await wait_for(decided, what="a decision per trend")
        requested = await read_topic(settings, topics.content_requests, expect=6)

    states = dict(await pool.fetch("SELECT trend_id, state FROM workflows"))
    assert states["feed:item-7"] == "rejected"  # denied tag
    assert states["feed:again"] == "rejected"  # same topic within the cooldown
    assert sum(s == "generating" for s in states.values()) == 6
    reasons = dict(await pool.fetch("SELECT trend_id, reason FROM workflows"))
    assert "spam" in reasons["feed:item-7"]
    assert await pool.fetchval("SELECT count(*) FROM content WHERE status = 'draft'") == 6
    assert await pool.fetchval("SELECT count(*) FROM trends") == 8

    decoded = [decode(r.value) for r in requested]
    assert len(decoded) == 6 and all(isinstance(e, ContentRequested) for e in decoded)
    assert {r.key.decode() for r in requested} == {e.payload.content_id for e in decoded}
    by_trend = {e.payload.trend.id: e for e in decoded}
    for event in events[:6]:
        request = by_trend[event.payload.id]
        assert request.correlation_id == event.correlation_id
        assert request.causation_id == event.event_id


async def test_duplicate_delivery_changes_nothing(settings: Settings, pool: asyncpg.Pool) -> None:
    topics = Topics(settings.topic_prefix)
    event = TrendDiscovered.create(trend(1), producer="test")
    runtime = build(settings, Policy())
    async with runtime.running():
        await produce(settings, topics.trends, [(b"feed:item-1", encode(event))] * 3)

        async def handled() -> bool:
            stats = runtime.stats()["orchestrator.trends"]
            return stats["processed"] + stats["duplicates"] == 3

        await wait_for(handled, what="three deliveries")
        assert runtime.stats()["orchestrator.trends"] == {
            "processed": 1,
            "duplicates": 2,
            "dead_lettered": 0,
            "retries": 0,
        }
        requested = await read_topic(settings, topics.content_requests, expect=1)
    assert len(requested) == 1
    assert await pool.fetchval("SELECT count(*) FROM workflows") == 1
    assert await pool.fetchval("SELECT count(*) FROM content") == 1
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 1


async def test_poison_messages_are_dead_lettered_and_the_next_one_is_processed(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    good = TrendDiscovered.create(trend(1), producer="test")
    wrong_schema = json.loads(encode(TrendDiscovered.create(trend(2), producer="test")))
    wrong_schema["payload"]["engagement_metrics"]["views"] = "lots"
    wrong_schema["payload"]["surprise"] = True
    unknown_type = {**json.loads(encode(good)), "event_type": "TrendForgotten"}
    poison = [
        (b"k1", b"{not json"),
        (b"k1", json.dumps(wrong_schema).encode()),
        (b"k1", json.dumps(unknown_type).encode()),
    ]
    runtime = build(settings, Policy())
    async with runtime.running():
        await produce(
            settings,
            topics.trends,
            [*poison, (b"k1", encode(good))],
            headers=[("source", b"test-producer")],
        )

        async def decided() -> bool:
            return await pool.fetchval("SELECT count(*) FROM workflows") == 1

        await wait_for(decided, what="the good message after the poison")
        dead = await read_topic(settings, Topics.dlq(topics.trends), expect=3)
        alerts = await read_topic(settings, topics.alerts, expect=3)

    assert [r.value for r in dead] == [v for _, v in poison]  # original bytes, in order
    codes = []
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert record.key == b"k1"
        assert headers["source"] == "test-producer"  # original headers kept
        assert headers["chimera.dlq.original.topic"] == topics.trends
        assert headers["chimera.dlq.consumer.group"] == f"{settings.topic_prefix}.orchestrator"
        assert int(headers["chimera.dlq.original.offset"]) >= 0
        assert headers["chimera.dlq.original.partition"].isdigit()
        assert headers["chimera.dlq.exception.class"] == "events.codec.DecodeError"
        assert headers["chimera.dlq.exception.message"]
        assert headers["chimera.dlq.timestamp"]
        codes.append(headers["chimera.dlq.error.code"])
    assert codes == ["INVALID_JSON", "SCHEMA_VIOLATION", "UNKNOWN_EVENT_TYPE"]
    assert len(alerts) == 3
    assert runtime.stats()["orchestrator.trends"]["dead_lettered"] == 3


async def test_the_daily_budget_holds_across_batches(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    runtime = build(settings, Policy(platforms=["local"], daily_budget={"local": 3}))
    async with runtime.running():
        for n in range(1, 6):  # one at a time: each decision sees the ones before
            event = TrendDiscovered.create(trend(n), producer="test")
            await produce(settings, topics.trends, [(b"k", encode(event))])

            async def decided(count: int = n) -> bool:
                return await pool.fetchval("SELECT count(*) FROM workflows") == count

            await wait_for(decided, what=f"decision {n}")
    states = [r[0] for r in await pool.fetch("SELECT state FROM workflows ORDER BY created_at")]
    assert states == ["generating"] * 3 + ["rejected"] * 2
    assert await pool.fetchval("SELECT sum(used) FROM budget_usage") == 3
    assert "budget" in await pool.fetchval(
        "SELECT reason FROM workflows WHERE state = 'rejected' LIMIT 1"
    )
