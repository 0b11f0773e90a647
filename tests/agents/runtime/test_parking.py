"""A retry due later than a batch may wait is parked, the batch commits, and the unpark loop
runs it when it is due: the partition is never held past the poll interval."""

from __future__ import annotations

import asyncpg

from agents.runtime import AgentRuntime, Subscription, Tx
from chimera.ops.offsets import committed_offsets
from core.errors import TransientError
from core.retry import RetryPolicy
from core.settings import Settings
from events import Envelope, Topics, TrendDiscovered, encode
from tests.support import produce, trend, wait_for


async def _committed(settings: Settings, group: str, topic: str) -> int:
    offsets = await committed_offsets(settings, group)
    return sum(o or 0 for tp, o in offsets.items() if tp.topic == topic)


async def test_a_long_retry_after_parks_the_record_and_the_batch_commits(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    calls: list[str] = []

    async def busy_then_fine(event: Envelope[TrendDiscovered], tx: Tx) -> None:
        calls.append(event.payload.id)
        if len(calls) == 1:
            raise TransientError("come back in ten minutes", code="QUOTA", retry_after=600)
        await tx.conn.execute(
            "INSERT INTO trends (id, platform, topic, title, engagement_metrics, velocity, "
            "fetched_at, url) VALUES ($1, 'feed', 't', 't', '{}', 0, now(), 'u')",
            event.payload.id,
        )

    topics = Topics(settings.topic_prefix)
    runtime = AgentRuntime(
        "parker",
        settings,
        [
            Subscription("parker.trends", topics.trends, (TrendDiscovered,), in_tx=busy_then_fine),
        ],
        retry=RetryPolicy(base_delay=0.05, max_retry_after=3600),
    )
    async with runtime.running():
        event = TrendDiscovered.create(trend(1), producer="test")
        await produce(settings, topics.trends, [(b"k", encode(event))])

        async def parked() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM parked_events"))

        await wait_for(parked, what="the record to be parked")
        row = await pool.fetchrow("SELECT * FROM parked_events")
        assert row["attempt"] == 1 and row["value"] == encode(event)
        wait = await pool.fetchval("SELECT extract(epoch FROM due_at - now()) FROM parked_events")
        assert 500 < wait <= 660  # the platform's ten minutes (plus jitter), not slept inline

        async def committed() -> bool:
            return await _committed(settings, runtime.group, topics.trends) == 1

        await wait_for(committed, what="the batch to be committed past the parked record")
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 0  # not processed yet
        assert calls == ["feed:item-1"]

        # Time passes: the unpark loop runs it again, once.
        await pool.execute("UPDATE parked_events SET due_at = now()")

        async def done() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM trends"))

        await wait_for(done, what="the parked record to be retried")
        await wait_for(lambda: _empty(pool), what="the parked row to be deleted")
    assert calls == ["feed:item-1", "feed:item-1"]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 1
    assert runtime.stats()["parker.trends"]["processed"] == 1


async def _empty(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM parked_events") == 0
