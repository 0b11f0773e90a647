"""Feeds: RSS 2.0, RSS 1.0, Atom and JSON lines parsed from real files; unsafe XML refused."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from core.errors import ErrorCategory
from events.trend import EngagementMetrics
from skills.base import invoke_json
from skills.settings.trends import SAMPLE_FEED
from skills.trends import fetch_trends
from skills.trends.common import SourceRequest
from skills.trends.feed import FeedInvalid, parse_feed, to_trends

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def request(time_range: str = "24h", categories: list[str] | None = None) -> SourceRequest:
    return SourceRequest(
        categories=categories or [], time_range=time_range, max_results=50, now=NOW
    )


def test_rss2_items_with_media_and_slash_counts(kit) -> None:
    items = parse_feed((kit.DATA / "rss.xml").read_bytes())
    assert [i.title for i in items] == [
        "Foldable phones get cheaper & thinner",
        "Open-source robot vacuum firmware",
        "Not a web link",
    ]
    first = items[0]
    assert first.key == "news-example-4411"
    assert first.link == "https://news.example.org/2026/11/foldables"
    assert first.description == "Three makers cut prices on foldables this week."
    assert first.published == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
    assert first.categories == ["technology", "smartphones"]
    assert (first.views, first.likes, first.comments) == (48200, 1900, 57)
    assert items[1].key == "https://news.example.org/2026/11/robot-vacuum"  # no guid: the link

    trends = to_trends(items, request("24h"))
    assert [t.id for t in trends] == ["feed:news-example-4411"]  # old and javascript: dropped
    trend = trends[0]
    assert trend.platform == "feed" and trend.topic == "technology"
    assert trend.engagement_metrics == EngagementMetrics.of(views=48200, likes=1900, comments=57)
    assert trend.timestamp == NOW
    assert len(to_trends(items, request("30d"))) == 2


def test_atom_entries_including_youtube_channel_feed(kit) -> None:
    items = parse_feed((kit.DATA / "atom.xml").read_bytes())
    video, post = items
    assert video.key == "yt:video:dQw4w9WgXcQ"
    assert video.link == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert video.description == "A quick walkthrough: fetch, rank and chart what is trending."
    assert (video.views, video.likes) == (80412, 2311)
    assert video.published == datetime(2026, 11, 24, 17, 0, 6, tzinfo=UTC)
    assert post.title == "Edge AI benchmarks"
    assert post.link == "https://blog.example.org/edge-ai-benchmarks"
    assert post.published == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # from <updated>
    assert post.categories == ["ai"]
    assert [t.title for t in to_trends(items, request("7d", ["AI"]))] == ["Edge AI benchmarks"]


def test_json_lines(kit) -> None:
    items = parse_feed((kit.DATA / "feed.jsonl").read_bytes())
    assert [i.key for i in items] == ["j-1", "https://example.com/j/2", "3"]
    assert items[1].categories == ["music"] and items[1].topic == "lo-fi beats"
    assert items[2].published == datetime(2026, 11, 1, tzinfo=UTC)
    trends = to_trends(items, request("24h"))
    assert [t.id for t in trends] == ["feed:j-1", "feed:https://example.com/j/2"]
    assert trends[0].engagement_metrics.engagement_rate == pytest.approx(0.115)
    assert [t.topic for t in to_trends(items, request("24h", ["Music"]))] == ["lo-fi beats"]


def test_rss1_rdf(kit) -> None:
    [item] = parse_feed((kit.DATA / "rdf.xml").read_bytes())
    assert item.key == "https://science.example.net/n/42" and item.categories == ["science"]
    assert item.published == datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_doctype_and_entities_are_refused(kit, name: str) -> None:
    with pytest.raises(FeedInvalid, match="DOCTYPE"):
        parse_feed((kit.DATA / name).read_bytes())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"title": "ok", "url": "https://e.x/1"}\n{"title": "no url"}\n', "entry 2: url"),
        (b'{"title": "ok", "url": "https://e.x/1"}\n{not json\n', "line 2"),
        (b"<html><body>not a feed</body></html>", "unknown XML feed type"),
        (b"<rss><channel><item></channel></rss>", "not well-formed"),
        (b"hello", "not a feed"),
    ],
)
def test_malformed_feeds_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(FeedInvalid, match=match):
        parse_feed(data)


async def test_bundled_sample_feed_is_the_offline_default(make_ctx) -> None:
    out = await invoke_json(fetch_trends, {}, make_ctx())
    assert out.success and out.metadata.platforms_queried == ["feed"]
    assert len(out.trends) == 5 and out.metadata.total_results == 5
    assert {t.platform for t in out.trends} == {"feed"}
    assert all(t.url.startswith("https://") and t.engagement_metrics.views > 0 for t in out.trends)
    assert SAMPLE_FEED.exists()


async def test_local_feed_from_input_must_be_inside_the_roots(kit, make_ctx, tmp_path) -> None:
    root = tmp_path / "feeds"
    root.mkdir()
    (root / "mine.jsonl").write_text('{"title": "Mine", "url": "https://e.x/mine"}\n')
    ts = kit.trends_settings(trends_feed_roots=[root])
    inside = await invoke_json(
        fetch_trends, {"platforms": ["feed"], "feed_urls": [str(root / "mine.jsonl")]}, make_ctx(ts)
    )
    assert inside.success and [t.title for t in inside.trends] == ["Mine"]
    outside = tmp_path / "feed.jsonl"
    outside.write_text('{"title": "t", "url": "https://e.x/"}\n')
    out = await invoke_json(
        fetch_trends, {"platforms": ["feed"], "feed_urls": [str(outside)]}, make_ctx(ts)
    )
    assert out.error is not None and out.error.code == "FEED_PATH_NOT_ALLOWED"
    assert out.error.category is ErrorCategory.VALIDATION
    traversal = str(root / ".." / "feed.jsonl")
    out = await invoke_json(
        fetch_trends, {"platforms": ["feed"], "feed_urls": [traversal]}, make_ctx(ts)
    )
    assert out.error is not None and out.error.code == "FEED_PATH_NOT_ALLOWED"
    out = await invoke_json(
        fetch_trends, {"platforms": ["feed"], "feed_urls": ["ftp://e.x/feed"]}, make_ctx(ts)
    )
    assert out.error is not None and out.error.code == "FEED_SOURCE_INVALID"


async def test_http_feeds_partial_failure_size_limit_and_redaction(
    kit, make_ctx, respx_mock
) -> None:
    today = format_datetime(datetime.now(UTC))
    rss = (
        (kit.DATA / "rss.xml")
        .read_bytes()
        .replace(b"Tue, 24 Nov 2026 18:30:00 +0000", today.encode())
    )
    respx_mock.get("https://news.example.org/feed.xml").mock(
        return_value=httpx.Response(
            200, content=rss, headers={"Content-Type": "application/rss+xml"}
        )
    )
    respx_mock.get("https://gone.example.org/feed.xml").mock(
        return_value=httpx.Response(404, text="not here")
    )
    respx_mock.get("https://huge.example.org/feed.xml").mock(
        return_value=httpx.Response(200, content=b"{" + b" " * 5000 + b"}")
    )
    ts = kit.trends_settings(trends_feed_max_bytes=4000)
    out = await invoke_json(
        fetch_trends,
        {
            "platforms": ["feed"],
            "time_range": "24h",
            "feed_urls": [
                "https://news.example.org/feed.xml",
                "https://gone.example.org/feed.xml?token=feed-secret-123",
                "https://huge.example.org/feed.xml",
            ],
        },
        make_ctx(ts),
    )
    assert out.success
    assert [t.url for t in out.trends] == ["https://news.example.org/2026/11/foldables"]
    by_source = {e.source: e.error.code for e in out.errors}
    assert by_source == {
        "https://gone.example.org/feed.xml": "FEED_UNAVAILABLE",
        "https://huge.example.org/feed.xml": "FEED_TOO_LARGE",
    }
    assert "feed-secret-123" not in out.model_dump_json()


async def test_feed_server_errors_are_transient(make_ctx, respx_mock) -> None:
    route = respx_mock.get("https://busy.example.org/feed").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "5"})
    )
    ctx = make_ctx()
    out = await invoke_json(
        fetch_trends, {"platforms": ["feed"], "feed_urls": ["https://busy.example.org/feed"]}, ctx
    )
    assert out.error is not None and out.error.code == "FEED_UNAVAILABLE" and out.error.retryable
    assert route.call_count == 4 and ctx.sleep.delays == [5.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ConnectError("refused"), "NETWORK_ERROR"),
        (httpx.ReadTimeout("slow"), "TIMEOUT"),
        (httpx.TooManyRedirects("loop"), "REQUEST_FAILED"),
    ],
)
async def test_feed_transport_failures_have_the_codes_of_every_skill(
    make_ctx, respx_mock, error: httpx.RequestError, code: str
) -> None:
    respx_mock.get("https://down.example.org/feed").mock(side_effect=error)
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["feed"], "feed_urls": ["https://down.example.org/feed?token=feed-secret"]},
        make_ctx(),
    )
    assert out.error is not None and out.error.code == code
    assert out.error.details["source"] == "https://down.example.org/feed"
    assert out.error.details["step"] == "fetch" and out.error.details["platform"] == "feed"
    assert "feed-secret" not in out.model_dump_json()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/feed.xml",
        "http://localhost/feed",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/rss",
        "http://[::1]/rss",
        "http://[::ffff:192.168.0.1]/rss",
        "https://api.localhost/feed",
        "http:///no-host",
    ],
)
async def test_input_feed_urls_may_not_name_private_hosts(make_ctx, respx_mock, url: str) -> None:
    respx_mock.route().mock(return_value=httpx.Response(200, text="{}"))
    out = await invoke_json(fetch_trends, {"platforms": ["feed"], "feed_urls": [url]}, make_ctx())
    assert out.error is not None and out.error.code == "FEED_HOST_NOT_ALLOWED"
    assert out.error.category is ErrorCategory.VALIDATION
    assert respx_mock.calls.call_count == 0


async def test_private_hosts_can_be_allowed_for_local_feeds(kit, make_ctx, respx_mock) -> None:
    respx_mock.get("http://127.0.0.1:8080/feed.jsonl").mock(
        return_value=httpx.Response(200, text='{"title": "Local", "url": "https://e.x/local"}\n')
    )
    ts = kit.trends_settings(trends_feed_allow_private_hosts=True)
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["feed"], "feed_urls": ["http://127.0.0.1:8080/feed.jsonl"]},
        make_ctx(ts),
    )
    assert out.success and [t.title for t in out.trends] == ["Local"]
