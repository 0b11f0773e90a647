"""The generate agent on the real broker and database: ready and failed outcomes, once."""

from __future__ import annotations

import uuid

import asyncpg

from agents.generate.app import build
from agents.generate.handlers import GenerateSettings
from core.settings import Settings
from events import ContentFailed, ContentReady, ContentRequested, Topics, decode, encode
from events.catalog import ContentRequestedPayload
from tests.support import produce, read_topic, trend, wait_for


async def seed(pool: asyncpg.Pool, content_id: str) -> ContentRequested:
    t = trend(1)
    await pool.execute(
        """INSERT INTO trends (id, platform, topic, title, engagement_metrics, velocity,
                               fetched_at, url) VALUES ($1, 'feed', $2, $3, '{}', 0, now(), $4)""",
        t.id,
        t.topic,
        t.title,
        t.url,
    )
    await pool.execute(
        "INSERT INTO content (id, type, status, trend_id) VALUES ($1, 'video', 'draft', $2)",
        content_id,
        t.id,
    )
    return ContentRequested.create(
        ContentRequestedPayload(
            content_id=content_id, trend=t, platforms=["local"], format="square"
        ),
        producer="orchestrator",
        correlation_id=uuid.uuid4(),
    )


async def test_renders_once_even_when_the_request_is_delivered_twice(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    request = await seed(pool, "c-ok")
    runtime = build(
        settings,
        GenerateSettings(
            resolution_scale=0.15, target_duration_s=10, preset="ultrafast", narrate=False
        ),
    )
    async with runtime.running():
        await produce(settings, topics.content_requests, [(b"c-ok", encode(request))] * 2)

        async def ready() -> bool:
            stats = runtime.stats()["generate.requests"]
            return stats["processed"] + stats["duplicates"] == 2

        await wait_for(ready, timeout=120, what="both deliveries handled")
        out = await read_topic(settings, topics.content_events, expect=1)
    assert runtime.stats()["generate.requests"]["processed"] == 1
    [event] = [decode(r.value) for r in out]
    assert isinstance(event, ContentReady)
    assert (event.payload.width, event.payload.height) == (162, 162)
    row = await pool.fetchrow("SELECT status, local_path, script FROM content")
    assert row["status"] == "ready" and row["local_path"] == event.payload.path
    assert row["script"]


async def test_a_render_failure_becomes_content_failed(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    request = await seed(pool, "c-bad")
    runtime = build(settings, GenerateSettings(preset="no-such-preset", narrate=False))
    async with runtime.running():
        await produce(settings, topics.content_requests, [(b"c-bad", encode(request))])
        out = await read_topic(settings, topics.content_events, expect=1, timeout=60)
    [event] = [decode(r.value) for r in out]
    assert isinstance(event, ContentFailed)
    assert event.payload.stage == "render" and not event.payload.error.retryable
    assert event.causation_id == request.event_id
    assert await pool.fetchval("SELECT status FROM content") == "failed"
    statuses = [
        r[0]
        for r in await pool.fetch(
            """SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' ->> 'action' FROM outbox
           WHERE event_type = 'AuditRecorded' ORDER BY id"""
        )
    ]
    assert statuses[0] == "content:generating" and statuses[-1] == "content:failed"
