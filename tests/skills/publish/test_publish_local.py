"""The local publisher on real files: copy, index, static page, idempotence, engagement."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from skills.base import invoke_json
from skills.context import SkillContext
from skills.publish import fetch_engagement, find_publication, publish_content
from skills.publish.local import local_post_id


def _request(video: Path, publication_id: str, **extra: object) -> dict[str, object]:
    return {
        "platform": "local",
        "video_path": str(video),
        "title": "A title",
        "description": "",
        "tags": [],
        "publication_id": publication_id,
        **extra,
    }


async def test_publishes_copies_and_lists_with_escaping(
    ctx: SkillContext, tmp_path: Path, make_video
):
    video = make_video(tmp_path / "in" / "clip.mp4", 5000)
    out = await invoke_json(
        publish_content,
        _request(
            video,
            "pub-1",
            title='<script>alert("x")</script> & friends',
            description="line one <b>bold</b>\nline two",
            tags=["ai", "<img src=x>"],
            privacy="unlisted",
        ),
        ctx,
    )

    assert out.success, out.error
    folder = tmp_path / "publish"
    assert out.post_id == local_post_id("pub-1")
    assert out.status == "published" and out.platform == "local"
    assert out.published_at is not None and out.reused is False
    page = folder / "index.html"
    assert out.url == f"{page.resolve().as_uri()}#{out.post_id}"
    copied = folder / "videos" / f"{out.post_id}.mp4"
    assert copied.read_bytes() == video.read_bytes()

    html = page.read_text()
    assert "<script>alert" not in html and "<b>bold" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; friends" in html
    assert "line one &lt;b&gt;bold&lt;/b&gt;<br>\nline two" in html
    assert "#&lt;imgsrcx&gt;" not in html and "#&lt;img src=x&gt;" in html
    assert f'<article id="{out.post_id}">' in html
    assert (
        f'<video controls preload="metadata"><source src="videos/{out.post_id}.mp4"'
    ) in html  # not a real video: no poster frame
    index = json.loads((folder / "index.json").read_text())
    assert [item["publication_id"] for item in index["items"]] == ["pub-1"]
    assert index["items"][0]["tags"] == ["ai", "<img src=x>"]
    assert not [p for p in folder.rglob("*.tmp")]


async def test_same_publication_id_returns_first_result_and_copies_nothing(
    ctx: SkillContext, tmp_path: Path, make_video
):
    video = make_video(tmp_path / "clip.mp4", 3000)
    first = await invoke_json(publish_content, _request(video, "pub-same"), ctx)
    copied = tmp_path / "publish" / "videos" / f"{first.post_id}.mp4"
    stamp = copied.stat().st_mtime_ns, copied.stat().st_ino
    video.unlink()  # the second call must not even need the source

    second = await invoke_json(
        publish_content, _request(video, "pub-same", title="Another title"), ctx
    )

    assert second.success, second.error
    assert second.reused is True
    assert (second.post_id, second.url, second.published_at) == (
        first.post_id,
        first.url,
        first.published_at,
    )
    assert (copied.stat().st_mtime_ns, copied.stat().st_ino) == stamp
    index = json.loads((tmp_path / "publish" / "index.json").read_text())
    assert len(index["items"]) == 1 and index["items"][0]["title"] == "A title"


async def test_page_lists_every_item_newest_first_with_details(
    ctx: SkillContext, tmp_path: Path, make_video
):
    video = make_video(tmp_path / "clip.mov", 2000)
    results = []
    for n in range(3):
        results.append(
            await invoke_json(
                publish_content,
                _request(
                    video,
                    f"pub-{n}",
                    title=f"Title {n}",
                    description=f"Description {n}",
                    tags=[f"tag{n}"],
                ),
                ctx,
            )
        )
    assert all(r.success for r in results)
    html = (tmp_path / "publish" / "index.html").read_text()
    assert "3 publications" in html
    positions = [html.index(f"<h2>Title {n}</h2>") for n in range(3)]
    assert positions == sorted(positions, reverse=True)
    for n, result in enumerate(results):
        assert f"Description {n}" in html and f"<li>#tag{n}</li>" in html
        assert 'type="video/quicktime"' in html
        assert (tmp_path / "publish" / "videos" / f"{result.post_id}.mov").exists()
        assert f'Published <time datetime="{result.published_at.isoformat()}">' in html


async def test_concurrent_publishes_all_land_in_the_index(
    ctx: SkillContext, tmp_path: Path, make_video
):
    video = make_video(tmp_path / "clip.mp4", 1000)
    outs = await asyncio.gather(
        *(invoke_json(publish_content, _request(video, f"c-{n}"), ctx) for n in range(6))
    )
    assert all(o.success for o in outs)
    index = json.loads((tmp_path / "publish" / "index.json").read_text())
    assert sorted(i["publication_id"] for i in index["items"]) == [f"c-{n}" for n in range(6)]


async def test_scheduled_item_is_marked_scheduled(ctx: SkillContext, tmp_path: Path, make_video):
    video = make_video(tmp_path / "clip.mp4", 1000)
    out = await invoke_json(
        publish_content, _request(video, "later", scheduled_at="2099-01-01T10:00:00+00:00"), ctx
    )
    assert out.success and out.status == "scheduled" and out.published_at is None
    assert out.scheduled_at is not None and out.scheduled_at.year == 2099
    html = (tmp_path / "publish" / "index.html").read_text()
    assert 'Scheduled for <time datetime="2099-01-01T10:00:00+00:00">' in html


async def test_missing_video_is_a_validation_error_and_writes_nothing(
    ctx: SkillContext, tmp_path: Path, make_video
):
    out = await invoke_json(publish_content, _request(tmp_path / "nope.mp4", "pub-x"), ctx)
    assert not out.success
    assert out.error.code == "VIDEO_NOT_FOUND" and out.error.category == "validation"
    assert not (tmp_path / "publish" / "index.json").exists()


async def test_invalid_input_is_rejected_before_anything_runs(ctx: SkillContext, tmp_path: Path):
    out = await invoke_json(
        publish_content, _request(tmp_path / "v.mp4", "bad id with spaces"), ctx
    )
    assert not out.success and out.error.code == "INVALID_INPUT"
    out = await invoke_json(
        publish_content, _request(tmp_path / "v.mp4", "ok", privacy="secret"), ctx
    )
    assert not out.success and out.error.code == "INVALID_INPUT"


async def test_engagement_counters_from_the_index(ctx: SkillContext, tmp_path: Path, make_video):
    video = make_video(tmp_path / "clip.mp4", 1000)
    out = await invoke_json(publish_content, _request(video, "eng"), ctx)
    zero = await invoke_json(fetch_engagement, {"platform": "local", "post_id": out.post_id}, ctx)
    assert zero.success
    assert (zero.views, zero.likes, zero.comments, zero.shares, zero.engagement_rate) == (
        0,
        0,
        0,
        0,
        0.0,
    )
    assert zero.recorded_at is not None

    index_path = tmp_path / "publish" / "index.json"
    index = json.loads(index_path.read_text())
    index["items"][0].update(views=200, likes=10, comments=4, shares=6)
    index_path.write_text(json.dumps(index))
    counted = await invoke_json(
        fetch_engagement, {"platform": "local", "post_id": out.post_id}, ctx
    )
    assert (counted.views, counted.likes, counted.comments, counted.shares) == (200, 10, 4, 6)
    assert counted.engagement_rate == 0.1

    missing = await invoke_json(
        fetch_engagement, {"platform": "local", "post_id": "local-nothing"}, ctx
    )
    assert not missing.success and missing.error.code == "POST_NOT_FOUND"


async def test_find_publication_in_the_local_index(ctx: SkillContext, tmp_path: Path, make_video):
    video = make_video(tmp_path / "clip.mp4", 1000)
    out = await invoke_json(publish_content, _request(video, "findme"), ctx)
    found = await invoke_json(
        find_publication, {"platform": "local", "publication_id": "findme", "title": "A title"}, ctx
    )
    assert found.success and found.found and found.post_id == out.post_id
    assert found.url == out.url
    absent = await invoke_json(
        find_publication, {"platform": "local", "publication_id": "other", "title": "A title"}, ctx
    )
    assert absent.success and absent.found is False and absent.post_id is None


async def test_a_real_video_gets_a_poster_frame_on_the_grid(ctx: SkillContext, tmp_path: Path):
    video = tmp_path / "in" / "real.mp4"
    video.parent.mkdir(parents=True)
    source = "testsrc=size=90x160:rate=10:duration=2"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )
    out = await invoke_json(publish_content, _request(video, "pub-real"), ctx)
    assert out.success, out.error
    poster = tmp_path / "publish" / "videos" / f"{out.post_id}.mp4.poster.jpg"
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    html = (tmp_path / "publish" / "index.html").read_text()
    assert '<main class="grid">' in html
    assert f'poster="videos/{out.post_id}.mp4.poster.jpg"' in html
    before = poster.stat().st_mtime_ns
    again = await invoke_json(publish_content, _request(video, "pub-real"), ctx)
    assert again.reused and poster.stat().st_mtime_ns == before  # extracted once
