"""The research agent on the real broker and database: on-demand fetch, announce, store."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from agents.research.app import build
from agents.research.handlers import ResearchSettings
from core.settings import Settings
from events import FetchTrends, Topics, TrendDiscovered, decode, encode
from events.catalog import FetchTrendsPayload
from tests.support import produce, read_topic, trend, wait_for

FEED = [
    {
        "id": "a",
        "title": "Tiny gardens on balconies",
        "url": "https://example.org/a",
        "topic": "balcony gardens",
        "tags": ["home"],
        "views": 5000,
        "likes": 100,
        "comments": 10,
        "shares": 5,
    },
    {
        "id": "b",
        "title": "Night trains are back",
        "url": "https://example.org/b",
        "topic": "night trains",
        "tags": ["travel"],
        "views": 9000,
        "likes": 300,
        "comments": 40,
        "shares": 12,
    },
]


@pytest.fixture
def feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in FEED) + "\n")
    monkeypatch.setenv("CHIMERA_TRENDS_FEED_URLS", json.dumps([str(path)]))
    return path


def command() -> FetchTrends:
    return FetchTrends.create(
        FetchTrendsPayload(platforms=["feed"]), producer="ops", correlation_id=uuid.uuid4()
    )


async def test_fetch_on_demand_announces_new_trends_once_and_stores_injected_ones(
    settings: Settings, pool: asyncpg.Pool, feed: Path
) -> None:
    topics = Topics(settings.topic_prefix)
    runtime = build(settings, ResearchSettings(interval_seconds=0, velocity_growth=1000))
    injected = TrendDiscovered.create(
        trend(7, platform="tiktok", id="tiktok:7"), producer="partner"
    )
    async with runtime.running():
        await produce(settings, topics.research_commands, [(None, encode(command()))])
        await produce(settings, topics.trends, [(b"tiktok:7", encode(injected))])

        async def stored() -> bool:
            return await pool.fetchval("SELECT count(*) FROM trends") == 3

        await wait_for(stored, what="two fetched and one injected trend stored")
        # The same feed again: nothing new, no velocity jump, so nothing is announced again.
        await produce(settings, topics.research_commands, [(None, encode(command()))])

        async def fetched_twice() -> bool:
            return (
                await pool.fetchval(
                    "SELECT count(*) FROM inbox WHERE consumer = 'research.commands'"
                )
                == 2
            )

        await wait_for(fetched_twice, what="the second fetch")
        announced = await read_topic(settings, topics.trends, expect=3)

    by_producer = sorted((decode(r.value).producer, r.key.decode()) for r in announced)
    assert by_producer == [("partner", "tiktok:7"), ("research", "feed:a"), ("research", "feed:b")]
    platforms = dict(await pool.fetch("SELECT id, platform FROM trends"))
    assert platforms == {"feed:a": "feed", "feed:b": "feed", "tiktok:7": "tiktok"}
    assert await pool.fetchval("SELECT count(*) FROM trend_snapshots") >= 2
    actions = {
        r[0]
        for r in await pool.fetch(
            "SELECT action FROM outbox, LATERAL "
            "(SELECT convert_from(value, 'UTF8')::jsonb "
            "-> 'payload' ->> 'action') AS a(action) "
            "WHERE event_type = 'AuditRecorded'"
        )
    }
    assert {"skill:skill_fetch_trends", "trend:announce", "trend:stored"} <= actions
