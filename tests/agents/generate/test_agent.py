"""The generate agent on the real broker and database: ready and failed outcomes, once."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

from agents.generate.app import build
from agents.generate.handlers import GenerateSettings
from core.settings import Settings
from events import ContentFailed, ContentReady, ContentRequested, Topics, decode, encode
from events.catalog import ContentRequestedPayload
from tests.skills.media.support import make_clip
from tests.support import produce, read_topic, trend, wait_for

# Silent and unchecked (the quality gate would refuse a video without sound): for the tests
# that are about something else.
QUICK = GenerateSettings(
    resolution_scale=0.15,
    target_duration_s=10,
    preset="ultrafast",
    narrate=False,
    quality_gate=False,
)


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
            resolution_scale=0.15, target_duration_s=10, preset="ultrafast", narrate=True
        ),
    )
    async with runtime.running():
        await produce(settings, topics.content_requests, [(b"c-ok", encode(request))] * 2)

        async def ready() -> bool:
            stats = runtime.stats()["generate.requests"]
            return stats["processed"] + stats["duplicates"] == 2

        await wait_for(ready, timeout=360, what="both deliveries handled")
        out = await read_topic(settings, topics.content_events, expect=1)
    assert runtime.stats()["generate.requests"]["processed"] == 1
    [event] = [decode(r.value) for r in out]
    assert isinstance(event, ContentReady)
    assert (event.payload.width, event.payload.height) == (162, 162)
    row = await pool.fetchrow("SELECT status, local_path, script, metadata FROM content")
    assert row["status"] == "ready" and row["local_path"] == event.payload.path
    assert row["script"]
    metadata = json.loads(row["metadata"])
    assert metadata["voice"]["engine"] == "piper"
    assert metadata["loudness"]["integrated_lufs"] == pytest.approx(-14, abs=1)
    assert metadata["assets"] and all(a["licence"] != "unknown" for a in metadata["assets"])
    # The rights ledger is in the audit log too.
    ledger = await pool.fetchval(
        """SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' -> 'output_data' -> 'assets'
           FROM outbox WHERE event_type = 'AuditRecorded'
           AND convert_from(value, 'UTF8')::jsonb -> 'payload' ->> 'action' = 'content:rights'"""
    )
    assert json.loads(ledger) == metadata["assets"]


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


async def test_a_licensed_clip_from_the_footage_library_fills_a_beat(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Footage through the real Filesystem MCP server; its licence lands in the metadata."""
    library = tmp_path / "library"
    library.mkdir()
    clip = make_clip(library / "topic-trend-number.mp4", seconds=2.0, size="96x96")
    (library / "topic-trend-number.mp4.json").write_text(
        json.dumps({"licence": "CC0-1.0", "author": "A. Filmer", "source": "https://x/clip"})
    )
    monkeypatch.setenv("CHIMERA_FOOTAGE_ROOTS", json.dumps([str(library)]))
    topics = Topics(settings.topic_prefix)
    request = await seed(pool, "c-footage")
    runtime = build(settings, QUICK)
    async with runtime.running():
        await produce(settings, topics.content_requests, [(b"c-footage", encode(request))])
        out = await read_topic(settings, topics.content_events, expect=1, timeout=120)
    [event] = [decode(r.value) for r in out]
    assert isinstance(event, ContentReady)
    metadata = json.loads(await pool.fetchval("SELECT metadata FROM content"))
    # The clip fills the beat that shares its words; the others get generated pictures.
    assert {a["provider"] for a in metadata["assets"]} <= {"filesystem", "generated"}
    [footage] = [a for a in metadata["assets"] if a["provider"] == "filesystem"]
    assert footage == {
        "provider": "filesystem",
        "id": str(clip.resolve()),
        "url": "https://x/clip",
        "author": "A. Filmer",
        "author_url": None,
        "licence": "CC0-1.0",
        "licence_url": None,
    }
    copied = list((settings.media_root / "footage").glob("*.mp4"))
    assert [p.read_bytes() for p in copied] == [clip.read_bytes()]


async def test_an_asset_of_unknown_licence_is_refused(
    settings: Settings, pool: asyncpg.Pool, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rights policy (refuse_unknown, the default): ContentFailed at stage `rights`."""
    library = tmp_path / "library"
    library.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x284:r=10",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
            str(library / "someones-clip.mp4"),
        ],
        check=True,
        timeout=60,
    )  # no sidecar: nobody said under which licence it may be used
    monkeypatch.setenv("CHIMERA_FOOTAGE_LIBRARY", str(library))
    topics = Topics(settings.topic_prefix)
    request = await seed(pool, "c-rights")
    runtime = build(
        settings,
        GenerateSettings(resolution_scale=0.15, target_duration_s=10, preset="ultrafast"),
    )
    async with runtime.running():
        await produce(settings, topics.content_requests, [(b"c-rights", encode(request))])
        out = await read_topic(settings, topics.content_events, expect=1, timeout=360)
    [event] = [decode(r.value) for r in out]
    assert isinstance(event, ContentFailed)
    assert event.payload.stage == "rights"
    assert event.payload.error.code == "RIGHTS_UNKNOWN_LICENCE"
    assert not event.payload.error.retryable
    [asset] = event.payload.error.details["assets"]
    assert asset["provider"] == "library" and asset["id"] == "someones-clip.mp4"
    assert await pool.fetchval("SELECT status FROM content") == "failed"
