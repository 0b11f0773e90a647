"""The publish agent with the local publisher, on the real broker and database."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import respx

from agents.publish.app import build
from agents.publish.handlers import PublishAgentSettings
from core.settings import Settings
from events import Published, PublishRequested, Topics, decode, encode
from events.catalog import PublishRequestedPayload
from tests.support import produce, read_topic, wait_for

FAST = PublishAgentSettings(
    poll_seconds=0.2, reconcile_seconds=0.5, engagement_seconds=0, privacy="public"
)


def make_video(path: Path) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x284:rate=10:duration=1",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


async def seed_content(pool: asyncpg.Pool, content_id: str, video: Path) -> None:
    await pool.execute(
        """INSERT INTO trends (id, platform, topic, title, engagement_metrics, velocity,
                               fetched_at, url) VALUES ('t1', 'feed', 'x', 'X', '{}', 1, now(),
                               'https://example.org')
           ON CONFLICT DO NOTHING"""
    )
    await pool.execute(
        """INSERT INTO content (id, type, status, trend_id, local_path)
           VALUES ($1, 'video', 'ready', 't1', $2)""",
        content_id,
        str(video),
    )


def request(
    content_id: str, video: Path, *, platform: str = "local", scheduled_at: datetime | None = None
) -> PublishRequested:
    return PublishRequested.create(
        PublishRequestedPayload.model_validate(
            {
                "publication_id": f"pub-{content_id}-{platform}",
                "content_id": content_id,
                "platform": platform,
                "path": str(video),
                "title": "Synthwave <in> 60 s",
                "description": "Why the 80s are back",
                "tags": ["music"],
                "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
            },
            strict=False,
        ),
        producer="test",
        correlation_id=uuid.uuid4(),
    )


async def test_publishes_when_due_once_and_reports(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    topics = Topics(settings.topic_prefix)
    video = make_video(tmp_path / "c1.mp4")
    await seed_content(pool, "c1", video)
    later = datetime.now(UTC) + timedelta(seconds=3)
    event = request("c1", video, scheduled_at=later)
    runtime = build(settings, FAST)
    async with runtime.running():
        await produce(
            settings,
            topics.publish_requests,
            [(b"c1", encode(event)), (b"c1", encode(event))],
        )  # and a duplicate

        async def recorded() -> bool:
            # Joining the group may take longer than the 3 s to scheduled_at: then it is
            # already publishing (or published) when first seen.
            return await pool.fetchval("SELECT status FROM publications") in (
                "scheduled",
                "publishing",
                "published",
            )

        await wait_for(recorded, what="the request recorded")

        async def published() -> bool:
            return await pool.fetchval("SELECT status FROM publications") == "published"

        await wait_for(published, timeout=20, what="publication at scheduled_at")
        done = await read_topic(settings, topics.publish_events, expect=1)

    row = await pool.fetchrow("SELECT * FROM publications")
    assert row["published_at"] >= later - timedelta(seconds=0.5)  # honoured scheduled_at
    assert row["post_id"] and row["url"]
    [record] = done
    out = decode(record.value)
    assert isinstance(out, Published) and out.payload.post_id == row["post_id"]
    assert out.correlation_id == event.correlation_id and record.key == b"c1"
    page = (settings.state_dir / "publish" / "index.html").read_text()
    assert "Synthwave &lt;in&gt; 60 s" in page
    assert len(list((settings.state_dir / "publish").glob("**/*.mp4"))) == 1


async def test_a_publication_left_in_flight_is_reconciled_not_reposted(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A worker died mid-call (row 'publishing', nobody holds its lock): ask the platform."""
    topics = Topics(settings.topic_prefix)
    video = make_video(tmp_path / "c2.mp4")
    await seed_content(pool, "c2", video)
    await pool.execute(
        """INSERT INTO publications (id, content_id, platform, title, status, scheduled_at,
                                     correlation_id)
           VALUES ('pub-yt', 'c2', 'youtube', 'In doubt', 'publishing', now(), $1)""",
        uuid.uuid4(),
    )
    with respx.mock(assert_all_called=False) as platform:
        upload = platform.route(host="www.googleapis.com")
        runtime = build(settings, FAST)
        async with runtime.running():

            async def settled() -> bool:
                return (
                    await pool.fetchval("SELECT status FROM publications WHERE id = 'pub-yt'")
                    != "publishing"
                )

            await wait_for(settled, what="reconciliation")
            alerts = await read_topic(settings, topics.alerts, expect=1)
    # No YouTube credentials here, so the platform cannot be asked: the outcome stays unknown,
    # a person is alerted, and nothing was uploaded again.
    assert await pool.fetchval("SELECT status FROM publications WHERE id='pub-yt'") == "unknown"
    assert not upload.called
    assert len(alerts) == 1 and b"pub-yt" in alerts[0].value
