"""skill_download_video through the real yt-dlp against a loopback server, guard included."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import pytest

from skills.base import invoke_json
from skills.media.download import download_video
from tests.skills.media.support import LoopbackServer, media_config


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_downloads_a_real_mp4(
    server: LoopbackServer, make_ctx, settings, connections
) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    out = await invoke_json(download_video, {"url": f"{server.base}/clip.mp4"}, ctx)
    assert out.success, out.error
    path = Path(out.path)
    assert path.is_file() and path.parent == settings.media_root / "downloads"
    assert out.sha256 == sha256(server.root / "clip.mp4") == sha256(path)
    assert out.size == path.stat().st_size
    assert abs(out.duration - 2.0) < 0.1
    assert (out.width, out.height) == (320, 240)
    assert out.source.extractor == "Generic" and out.source.id == "clip"
    assert out.source.webpage_url == f"{server.base}/clip.mp4"
    assert not out.from_archive
    archive = (settings.media_root / "downloads" / "archive.txt").read_text().split()
    assert archive == ["generic", "clip"]
    assert {host for host, _ in connections} == {"127.0.0.1"}


async def test_second_download_comes_from_the_archive(server: LoopbackServer, make_ctx) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    first = await invoke_json(download_video, {"url": f"{server.base}/clip.mp4"}, ctx)
    assert first.success, first.error
    requests_after_first = list(server.requests)
    assert server.gets("/clip.mp4") >= 1

    second = await invoke_json(download_video, {"url": f"{server.base}/clip.mp4"}, ctx)
    assert second.success, second.error
    assert second.from_archive
    assert (second.path, second.sha256, second.size) == (first.path, first.sha256, first.size)
    assert server.requests == requests_after_first  # not a single request the second time

    # force: fetched again, same content
    forced = await invoke_json(
        download_video, {"url": f"{server.base}/clip.mp4", "force": True}, ctx
    )
    assert forced.success and not forced.from_archive and forced.sha256 == first.sha256
    assert server.gets("/clip.mp4") > len(requests_after_first)


async def test_loopback_not_allowlisted_is_refused(
    server: LoopbackServer, make_ctx, connections
) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[]))
    for url in (f"{server.base}/clip.mp4", f"http://localhost:{server.port}/clip.mp4"):
        out = await invoke_json(download_video, {"url": url}, ctx)
        assert not out.success
        assert out.error.code == "URL_REFUSED" and out.error.category == "validation"
        assert "loopback" in out.error.details["reason"]
    assert server.requests == [] and connections == []


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/x",
        "http://100.64.0.1/x",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_a_forbidden_address_is_refused_without_connecting(
    server: LoopbackServer, make_ctx, connections, target: str
) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    out = await invoke_json(
        download_video, {"url": f"{server.base}/redirect?to={quote(target)}"}, ctx
    )
    assert not out.success
    assert out.error.code == "URL_REFUSED", out.error
    assert server.gets("/redirect") >= 1  # the first hop happened ...
    # ... and the second was refused before any connection: only the loopback server was dialed.
    assert connections and all(c == ("127.0.0.1", server.port) for c in connections)


async def test_redirect_to_another_loopback_port_is_refused(
    server: LoopbackServer, make_ctx, connections
) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    other = f"http://127.0.0.1:{server.port + 1 if server.port < 65535 else 1}/clip.mp4"
    out = await invoke_json(
        download_video, {"url": f"{server.base}/redirect?to={quote(other)}"}, ctx
    )
    assert out.error is not None and out.error.code == "URL_REFUSED"
    assert all(c == ("127.0.0.1", server.port) for c in connections)


async def test_redirect_within_the_allowlist_is_followed(server: LoopbackServer, make_ctx) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    target = quote(f"{server.base}/clip.mp4")
    out = await invoke_json(download_video, {"url": f"{server.base}/redirect?to={target}"}, ctx)
    assert out.success, out.error
    assert out.sha256 == sha256(server.root / "clip.mp4")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/clip.mp4", "data:video/mp4;base64,AAAA"]
)
async def test_other_schemes_are_refused(url: str, make_ctx, connections) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=["127.0.0.1"]))
    out = await invoke_json(download_video, {"url": url}, ctx)
    assert out.error is not None and out.error.code == "URL_REFUSED"
    assert "scheme" in out.error.details["reason"]
    assert connections == []


async def test_too_large_file_is_refused(server: LoopbackServer, make_ctx, settings) -> None:
    size = (server.root / "clip.mp4").stat().st_size
    ctx = make_ctx(
        media_config(
            ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"],
            download_max_filesize_mb=size / 2 / 1024 / 1024,
        )
    )
    out = await invoke_json(download_video, {"url": f"{server.base}/clip.mp4"}, ctx)
    assert not out.success
    assert out.error.code == "FILE_TOO_LARGE" and out.error.category == "validation"
    folder = settings.media_root / "downloads"
    assert not list(folder.glob("*.mp4"))
    assert (
        not (folder / "archive.txt").exists() or "clip" not in (folder / "archive.txt").read_text()
    )


async def test_too_long_video_is_refused_and_not_archived(
    server: LoopbackServer, make_ctx, settings
) -> None:
    ctx = make_ctx(
        media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"], download_max_duration_s=1.0)
    )
    out = await invoke_json(download_video, {"url": f"{server.base}/clip.mp4"}, ctx)
    assert out.error is not None and out.error.code == "VIDEO_TOO_LONG"
    folder = settings.media_root / "downloads"
    assert not list(folder.glob("*.mp4"))
    assert "clip" not in (folder / "archive.txt").read_text()


async def test_missing_file_and_page_without_video(server: LoopbackServer, make_ctx) -> None:
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    missing = await invoke_json(download_video, {"url": f"{server.base}/nope.mp4"}, ctx)
    assert missing.error is not None and missing.error.code == "SOURCE_NOT_FOUND"
    assert missing.error.category == "validation"
    page = await invoke_json(download_video, {"url": f"{server.base}/page.html"}, ctx)
    assert page.error is not None and page.error.code == "UNSUPPORTED_URL"


async def test_connection_failure_is_transient(make_ctx) -> None:
    with __import__("socket").socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{port}"]), retries=1)
    out = await invoke_json(download_video, {"url": f"http://127.0.0.1:{port}/clip.mp4"}, ctx)
    assert out.error is not None and out.error.category == "transient"
    assert out.error.retryable and out.error.details["attempts"] == 2


async def test_duration_known_before_download_is_refused_by_the_match_filter(
    server: LoopbackServer, make_ctx, settings
) -> None:
    # A page whose JSON-LD says the video lasts two hours: refused before any download.
    page = (
        '<html><head><title>Long</title><script type="application/ld+json">'
        '{"@context": "https://schema.org", "@type": "VideoObject", "name": "A long one",'
        f' "contentUrl": "{server.base}/clip.mp4", "duration": "PT2H",'
        ' "uploadDate": "2024-01-01"}</script></head><body>video</body></html>'
    )
    (server.root / "long.html").write_text(page)
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    out = await invoke_json(download_video, {"url": f"{server.base}/long.html"}, ctx)
    assert out.error is not None and out.error.code == "VIDEO_TOO_LONG"
    assert "7200" in out.error.message
    folder = settings.media_root / "downloads"
    assert not [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".mp4", ".part")]


@pytest.mark.parametrize(
    ("info", "code"),
    [
        ({"duration": 3600.0}, "VIDEO_TOO_LONG"),
        ({"filesize": 2_000_000}, "FILE_TOO_LARGE"),
        ({"filesize_approx": 2_000_000}, "FILE_TOO_LARGE"),
        ({"is_live": True, "duration": 10}, "LIVE_NOT_SUPPORTED"),
        ({"live_status": "is_upcoming"}, "LIVE_NOT_SUPPORTED"),
        ({"duration": 10, "filesize": 1000}, None),
        ({}, None),  # unknown: decided after the download (Content-Length, then a probe)
    ],
)
def test_match_filter_rules(info: dict, code: str | None) -> None:
    from skills.media.download import _Run

    run = _Run(max_bytes=1_000_000)
    verdict = run.match_filter(info, max_duration=1800)
    assert (verdict is None) == (code is None)
    assert [c for c, _ in run.rejections] == ([code] if code else [])


async def test_concurrent_requests_for_one_url_download_once(
    server: LoopbackServer, make_ctx
) -> None:
    import asyncio

    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    outs = await asyncio.gather(
        *(invoke_json(download_video, {"url": f"{server.base}/clip.mp4"}, ctx) for _ in range(3))
    )
    assert all(o.success for o in outs)
    assert sorted(o.from_archive for o in outs) == [False, True, True]
    assert len({o.sha256 for o in outs}) == 1


async def test_a_file_that_is_not_a_video_is_not_kept(
    server: LoopbackServer, make_ctx, settings
) -> None:
    (server.root / "fake.mp4").write_bytes(b"not a video at all " * 200)  # served as video/mp4
    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    out = await invoke_json(download_video, {"url": f"{server.base}/fake.mp4"}, ctx)
    assert out.error is not None and out.error.code == "UNREADABLE_MEDIA"
    folder = settings.media_root / "downloads"
    assert not list(folder.glob("*.mp4"))
    assert "fake" not in (folder / "archive.txt").read_text()


async def test_a_download_growing_past_the_limit_is_stopped(
    server: LoopbackServer, make_ctx, settings
) -> None:
    # No Content-Length: only the progress hook can see the size, and it stops the download.
    size = (server.root / "clip.mp4").stat().st_size
    ctx = make_ctx(
        media_config(
            ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"],
            download_max_filesize_mb=size / 3 / 1024 / 1024,
        )
    )
    out = await invoke_json(download_video, {"url": f"{server.base}/nolength/clip.mp4"}, ctx)
    assert out.error is not None and out.error.code == "FILE_TOO_LARGE", out.error
    folder = settings.media_root / "downloads"
    assert not [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".mp4", ".part")]

    ctx = make_ctx(media_config(ssrf_allowed_hosts=[f"127.0.0.1:{server.port}"]))
    out = await invoke_json(download_video, {"url": f"{server.base}/nolength/clip.mp4"}, ctx)
    assert out.success, out.error  # within the limit it downloads fine
    assert out.size == size
