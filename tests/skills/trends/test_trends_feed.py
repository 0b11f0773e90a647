"""Feeds: a corpus of real-world variants (RSS 0.90 to 2.0, RDF, Atom 0.3 and 1.0, JSON Feed)
parsed from real files into trends; JSON lines; unsafe XML refused, a bare DOCTYPE accepted."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from core.errors import ErrorCategory
from events.trend import EngagementMetrics, Trend
from skills.base import invoke_json
from skills.settings.trends import SAMPLE_FEED
from skills.trends import fetch_trends
from skills.trends.common import SourceRequest
from skills.trends.feed import FeedInvalid, parse_feed, to_trends
from tests.support import offline_client, offline_guard

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEEDS = Path(__file__).parent / "data" / "feeds"


def request(time_range: str = "24h", categories: list[str] | None = None) -> SourceRequest:
    return SourceRequest(
        categories=categories or [], time_range=time_range, max_results=50, now=NOW
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- The corpus ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """What a corpus item must become: the trend's fields, and the item's publication date."""

    title: str
    url: str
    published: datetime | None
    description: str = ""
    thumbnail_url: str | None = None
    views: int = 0
    likes: int = 0
    comments: int = 0
    tags: tuple[str, ...] = ()


CORPUS: dict[str, list[Seen]] = {
    "rss090_netscape_rdf.xml": [
        Seen(
            "Booting a 1984 laptop from an SD card", "https://retro.example.com/2026/sd-boot", None
        ),
        Seen("Demoscene tricks on 64 KB", "https://retro.example.com/2026/64k", None),
    ],
    "rss091_netscape_doctype.xml": [
        Seen(
            "Caf\u00e9 prices climb for a third week",
            "https://cafe.example.com/news/prices",
            None,
            description="Beans cost more; roasters pass it on.",
        )
    ],
    "rss091_userland.xml": [
        Seen(
            "Outliners are having a moment",
            "https://almanac.example.org/2026/11/24#outliners",
            None,
            description="Three new outliners shipped this month.",
        )
    ],
    "rss092_enclosure.xml": [
        Seen(
            "Aurora over the fjord",
            "https://nightsky.example.net/p/aurora-fjord",
            None,
            description="Shot at 02:10 with a 14 mm lens.",
            thumbnail_url="https://cdn.nightsky.example.net/aurora-fjord.jpg",
        )
    ],
    "rss10_rdf.xml": [
        Seen(
            "Comet visible at dusk",
            "https://science.example.net/n/42",
            at("2026-11-24T20:00:00+00:00"),
            description="Look west after sunset this week.",
            tags=("science",),
        )
    ],
    "rss10_rdf_modules.xml": [
        Seen(
            "A RISC-V laptop you can actually buy",
            "https://geeks.example.org/story/26/11/24/riscv-laptop",
            at("2026-11-24T22:05:00+00:00"),
            description="Eight cores, open firmware.",
            comments=348,
            tags=("hardware",),
        )
    ],
    "rss20_dublin_core.xml": [
        Seen(
            "Bike lanes approved for Harbour Street",
            "https://council.example.gov/minutes/2026-11-24#bike-lanes",
            at("2026-11-24T19:30:00+01:00"),
            tags=("transport",),
        )
    ],
    "rss20_escaped_html.xml": [
        Seen(
            "Solder & Code: the maker\u2019s weekend",
            "https://makers.example.org/2026/11/solder-code",
            at("2026-11-25T06:00:00+00:00"),
            description="A 48-hour hackathon & fair.",
        )
    ],
    "rss20_guid_permalink.xml": [
        Seen(
            "Why I moved my blog to a static site",
            "https://tiny.example.dev/posts/static-site/",
            at("2026-11-23T07:45:00-05:00"),
            description="Faster, cheaper, and the feed still works.",
        ),
        Seen(
            "Keyboard firmware diaries",
            "https://tiny.example.dev/posts/keyboard-firmware/",
            at("2026-11-22T10:00:00+00:00"),
        ),
        # isPermaLink="false": the guid is no link, the channel's link stands in.
        Seen("Announcements only", "https://tiny.example.dev/", at("2026-11-22T09:00:00+00:00")),
    ],
    "rss20_media_rss_group.xml": [
        Seen(
            "Street food in 60 seconds",
            "https://clips.example.tv/v/street-food-60",
            at("2026-11-24T16:00:00+00:00"),
            description="Six stalls, one minute.",
            thumbnail_url="https://img.clips.example.tv/90211/large.jpg",  # the widest
            views=1_254_300,
            likes=3120,
            tags=("food",),
        ),
        Seen(
            "Night market tour",
            "https://clips.example.tv/v/night-market",
            at("2026-11-24T12:00:00+00:00"),
            thumbnail_url="https://img.clips.example.tv/90188/cover.jpg",
            views=40210,
        ),
    ],
    "rss20_media_rss_slash.xml": [
        Seen(
            "Foldable phones get cheaper & thinner",
            "https://news.example.org/2026/11/foldables",
            at("2026-11-24T18:30:00+00:00"),
            description="Three makers cut prices on foldables this week.",
            views=48200,
            likes=1900,
            comments=57,
            tags=("technology", "smartphones"),
        ),
        Seen(
            "Open-source robot vacuum firmware",
            "https://news.example.org/2026/11/robot-vacuum",
            at("2026-11-02T09:00:00+00:00"),
            description="Hackers free their vacuums from the cloud.",
            tags=("technology",),
        ),
        # The third item's link is javascript: and is dropped.
    ],
    "rss20_not_well_formed.xml": [
        Seen(
            "Fish & chips shop wins national award",
            "https://localnews.example.com/a/fish-chips-award",
            at("2026-11-24T14:00:00+00:00"),
            description="The judges loved it. Queues expected.",
        )
    ],
    "rss20_podcast_itunes.xml": [
        Seen(
            "Episode 212: Shipping hardware on a budget",
            "https://buildlog.example.fm/212",
            at("2026-11-24T05:00:00+00:00"),
            description="Freight, tariffs and why the first batch is always late.",
            thumbnail_url="https://buildlog.example.fm/art/212-3000.jpg",
        )
    ],
    "rss20_shift_jis.xml": [
        Seen(
            "\u65b0\u3057\u3044\u30e9\u30fc\u30e1\u30f3\u5c4b\u304c\u958b\u5e97",
            "https://gourmet.example.jp/entry/ramen-2026-11",
            at("2026-11-24T20:00:00+09:00"),
            description="\u884c\u5217\u304c\u3067\u304d\u3066\u3044\u307e\u3057\u305f\u3002",
        )
    ],
    "rss20_windows1252.xml": [
        Seen(
            "\u201cBlack Friday\u201d laptops from \u20ac399 \u2013 compared",
            "https://deals.example.eu/black-friday-laptops",
            at("2026-11-24T11:00:00+01:00"),
            description="We checked 40 offers so you don\u2019t have to.",
        )
    ],
    "rss20_wordpress.xml": [
        Seen(
            "Balcony tomatoes in winter: what actually works",
            "https://gardenhacks.example.com/2026/11/24/balcony-tomatoes-winter/",
            at("2026-11-24T20:15:00+00:00"),
            description="Grow lights, bubble wrap and the right variety. The post Balcony "
            "tomatoes in winter: what actually works appeared first on Garden Hacks.",
            thumbnail_url="https://gardenhacks.example.com/wp-content/uploads/2026/11/tomatoes.jpg",
            comments=12,
            tags=("Gardening", "Urban"),
        )
    ],
    "atom03.xml": [
        Seen(
            "Small shops switch to open invoicing",
            "https://ledger.example.com/2026/11/open-invoicing",
            at("2026-11-24T09:12:00-05:00"),  # <issued>
            description="Open formats, fewer fees.",  # mode="escaped"
        ),
        Seen(
            "Quarterly figures",
            "https://ledger.example.com/2026/11/quarterly",
            at("2026-11-23T08:00:00+00:00"),  # <modified>
            description="Quarterly figures, decoded from base64.",  # mode="base64"
        ),
    ],
    "atom10_blogger.xml": [
        Seen(
            "My first 100 km ultra",
            "https://trailrunning.example.blog/2026/11/first-100k.html",
            at("2026-11-24T15:30:00-08:00"),
            description="Hills, mud and a sunrise.",
            thumbnail_url="https://blogger.googleusercontent.example.com/img/b/first-100k/s72-c/sunrise.jpg",
            comments=9,
            tags=("ultra", "gear"),
        )
    ],
    "atom10_youtube_channel.xml": [
        Seen(
            "Build a trend dashboard in 10 minutes",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            at("2026-11-24T17:00:06+00:00"),
            description="A quick walkthrough: fetch, rank and chart what is trending.",
            thumbnail_url="https://i4.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
            views=80412,
            likes=2311,
            tags=("technology",),
        ),
        Seen(
            "Edge AI benchmarks",
            "https://blog.example.org/edge-ai-benchmarks",
            at("2026-11-20T08:00:00+00:00"),  # <updated>
            description="Small models on small boards, measured.",
            tags=("ai",),
        ),
    ],
    "atom10_xml_base.xml": [
        Seen(
            "Mapping bird song with cheap microphones",
            "https://notes.example.io/blog/2026/bird-song.html",
            at("2026-11-24T12:00:00+00:00"),
            description="Twelve microphones, one park, a month of mornings.",
            thumbnail_url="https://notes.example.io/images/bird-song.jpg",
        )
    ],
    "jsonfeed10.json": [
        Seen(  # an empty title: the start of the text stands in
            "Watched the comet from the roof tonight. Worth the cold.",
            "https://micro.example.social/2026/11/24/1098.html",
            at("2026-11-24T21:02:00+00:00"),  # date_modified
            description="Watched the comet from the roof tonight. Worth the cold.",
            thumbnail_url="https://micro.example.social/uploads/2026/comet.jpg",
        )
    ],
    "jsonfeed11.json": [
        Seen(
            "Menu bar apps worth paying for",
            "https://indieapps.example.com/2026/11/24/menu-bar-apps",
            at("2026-11-24T08:00:00+00:00"),
            description="Five small utilities that earn their place.",
            thumbnail_url="https://indieapps.example.com/images/menu-bar-apps.png",
            tags=("apps", "productivity"),
        ),
        Seen(
            "The yearly indie developer survey is out: revenue up, burnout down.",
            "https://news.example.net/story/indie-dev-survey",  # external_url
            at("2026-11-23T17:20:00-08:00"),
            description="The yearly indie developer survey is out: revenue up, burnout down.",
        ),
    ],
}


def seen(trend: Trend, published: datetime | None) -> Seen:
    metrics = trend.engagement_metrics
    return Seen(
        title=trend.title,
        url=trend.url,
        published=published,
        description=trend.description,
        thumbnail_url=trend.thumbnail_url,
        views=metrics.views,
        likes=metrics.likes,
        comments=metrics.comments,
        tags=tuple(trend.tags),
    )


@pytest.mark.parametrize(("name", "expected"), CORPUS.items(), ids=list(CORPUS))
def test_corpus_variant_maps_to_trend_fields(name: str, expected: list[Seen]) -> None:
    items = parse_feed((FEEDS / name).read_bytes())
    published = {item.link: item.published for item in items}
    trends = to_trends(items, request("30d"))
    assert [seen(t, published[t.url]) for t in trends] == expected
    assert all(t.platform == "feed" and t.timestamp == NOW for t in trends)


def test_every_corpus_file_names_its_variant_and_is_in_the_table() -> None:
    files = sorted(p.name for p in FEEDS.iterdir())
    assert files == sorted(CORPUS)
    for path in FEEDS.iterdir():
        if path.suffix == ".json":
            assert json.loads(path.read_text())["_chimera_corpus"]["variant"], path.name
        else:
            assert re.search(rb"<!-- Variant: .{20,}? -->", path.read_bytes()), path.name


async def test_thumbnail_reaches_the_skill_output(kit, make_ctx) -> None:
    ts = kit.trends_settings(trends_feed_roots=[FEEDS])
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["feed"], "time_range": "30d", "feed_urls": [str(FEEDS / "jsonfeed11.json")]},
        make_ctx(ts),
    )
    assert out.success and out.trends
    assert out.trends[0].thumbnail_url == "https://indieapps.example.com/images/menu-bar-apps.png"
    wire = out.trends[0].model_dump_json()
    assert Trend.model_validate_json(wire) == out.trends[0]


def test_rss2_items_with_media_and_slash_counts(kit) -> None:
    items = parse_feed((FEEDS / "rss20_media_rss_slash.xml").read_bytes())
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
    items = parse_feed((FEEDS / "atom10_youtube_channel.xml").read_bytes())
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
    assert [i.thumbnail for i in items] == ["https://example.com/j/1.jpg", None, None]
    trends = to_trends(items, request("24h"))
    assert [t.id for t in trends] == ["feed:j-1", "feed:https://example.com/j/2"]
    assert trends[0].engagement_metrics.engagement_rate == pytest.approx(0.115)
    assert [t.topic for t in to_trends(items, request("24h", ["Music"]))] == ["lo-fi beats"]


def test_rss1_rdf(kit) -> None:
    [item] = parse_feed((FEEDS / "rss10_rdf.xml").read_bytes())
    assert item.key == "https://science.example.net/n/42" and item.categories == ["science"]
    assert item.published == datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def test_counts_that_are_not_numbers_are_zero() -> None:
    [item] = parse_feed(
        b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><item>'
        b"<title>t</title><link>https://x.example/</link>"
        b'<media:community><media:statistics views="inf"/><media:starRating count="n/a"/>'
        b"</media:community><slash:comments xmlns:slash='http://purl.org/rss/1.0/modules/slash/'>"
        b"-3</slash:comments></item></channel></rss>"
    )
    assert (item.views, item.likes, item.comments) == (0, 0, 0)


# --- Safety ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["billion_laughs.xml", "external_entity.xml", "parameter_entity.xml"]
)
def test_entity_declarations_are_refused(kit, name: str) -> None:
    with pytest.raises(FeedInvalid, match="entity declaration is refused") as refused:
        parse_feed((kit.DATA / name).read_bytes())
    assert refused.value.code == "FEED_INVALID"


def test_a_doctype_without_entities_is_accepted() -> None:
    netscape = (FEEDS / "rss091_netscape_doctype.xml").read_bytes()
    assert b"<!DOCTYPE rss PUBLIC" in netscape
    assert [i.title for i in parse_feed(netscape)] == ["Caf\u00e9 prices climb for a third week"]
    internal_subset = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ATTLIST item id ID #IMPLIED>]>\n'
        b'<rss version="2.0"><channel><title>c</title>'
        b'<item id="a1"><title>Kept</title><link>https://x.example/kept</link></item>'
        b"</channel></rss>"
    )
    assert [i.link for i in parse_feed(internal_subset)] == ["https://x.example/kept"]


def test_an_external_dtd_is_never_read(tmp_path: Path) -> None:
    dtd = tmp_path / "feed.dtd"
    dtd.write_text('<!ENTITY secret "LEAKED-FROM-DTD">\n')
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">\n'
        '<rss version="2.0"><channel><title>c</title><item><title>a &secret; b</title>'
        "<link>https://x.example/a</link></item></channel></rss>"
    ).encode()
    [item] = parse_feed(doc)
    assert "LEAKED" not in item.title and item.link == "https://x.example/a"


def test_entities_declared_after_a_well_formedness_error_are_not_expanded() -> None:
    # The lenient parser reads the body; a declaration there is text, never an entity.
    doc = (
        b'<rss version="2.0"><channel><title>a & b</title>'
        b'<!DOCTYPE x [<!ENTITY e "EXPANDED">]>'
        b"<item><title>t &e; end</title><link>https://x.example/t</link></item>"
        b"</channel></rss>"
    )
    [item] = parse_feed(doc)
    assert "EXPANDED" not in item.title and item.link == "https://x.example/t"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"title": "ok", "url": "https://e.x/1"}\n{"title": "no url"}\n', "entry 2: url"),
        (b'{"title": "ok", "url": "https://e.x/1"}\n{not json\n', "line 2"),
        (b"<html><body>not a feed</body></html>", "unknown XML feed type"),
        (b"<rss><channel><item></channel></rss>", "not well-formed XML: mismatched tag at line 1"),
        (b"<!-- only a comment -->", "not well-formed XML: no element found"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": "none"}', "JSON Feed: items"),
        (b'{"version": "https://example.com/v2", "items": []}', "JSON Feed: version"),
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
        (FEEDS / "rss20_media_rss_slash.xml")
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


async def test_relative_links_resolve_against_the_feed_url(make_ctx, respx_mock) -> None:
    rss = (
        b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        b"<title>c</title><link>/</link>"
        b"<item><title>Relative</title><link>/posts/1</link>"
        b'<media:thumbnail url="img/1.png"/></item>'
        b"<item><title>Scheme-less guid</title><guid>//cdn.example.org/posts/2</guid></item>"
        b"</channel></rss>"
    )
    json_feed = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "j",
            "items": [{"id": "3", "url": "3.html", "title": "Relative JSON", "image": "/3.png"}],
        }
    )
    respx_mock.get("https://blog.example.org/feeds/main.xml").mock(
        return_value=httpx.Response(200, content=rss)
    )
    respx_mock.get("https://json.example.org/a/feed.json").mock(
        return_value=httpx.Response(200, text=json_feed)
    )
    out = await invoke_json(
        fetch_trends,
        {
            "platforms": ["feed"],
            "feed_urls": [
                "https://blog.example.org/feeds/main.xml",
                "https://json.example.org/a/feed.json",
            ],
        },
        make_ctx(),
    )
    assert out.success
    assert {(t.url, t.thumbnail_url) for t in out.trends} == {
        ("https://blog.example.org/posts/1", "https://blog.example.org/feeds/img/1.png"),
        ("https://cdn.example.org/posts/2", None),
        ("https://json.example.org/a/3.html", "https://json.example.org/3.png"),
    }


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


async def test_a_feed_name_resolving_inside_is_refused(make_ctx, respx_mock) -> None:
    """Configured feeds too: the feed server is a third party whoever named it."""
    respx_mock.route().mock(return_value=httpx.Response(200, text="{}"))
    guard = offline_guard({"feeds.example.org": ["192.168.1.20"]})
    async with offline_client(guard) as client:
        out = await invoke_json(
            fetch_trends,
            {"platforms": ["feed"], "feed_urls": ["https://feeds.example.org/rss"]},
            make_ctx(untrusted_http=client),
        )
    assert out.error is not None and out.error.code == "FEED_HOST_NOT_ALLOWED"
    assert "192.168.1.20: private" in out.error.details["reason"]
    assert respx_mock.calls.call_count == 0


@pytest.mark.parametrize("trusted", [True, False])
async def test_a_feed_redirect_to_an_internal_address_is_refused(
    kit, make_ctx, respx_mock, trusted: bool
) -> None:
    feed = "https://news.example.org/feed"
    respx_mock.get(feed).mock(
        return_value=httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})
    )
    metadata = respx_mock.get("http://169.254.169.254/latest").mock(
        return_value=httpx.Response(200, text="{}")
    )
    ts = kit.trends_settings(trends_feed_urls=[feed])
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["feed"]} if trusted else {"platforms": ["feed"], "feed_urls": [feed]},
        make_ctx(ts),
    )
    assert out.error is not None and out.error.code == "FEED_HOST_NOT_ALLOWED"
    assert not metadata.called


async def test_a_feed_redirect_to_a_public_host_is_followed(make_ctx, respx_mock) -> None:
    respx_mock.get("http://news.example.org/feed").mock(
        return_value=httpx.Response(301, headers={"Location": "https://news.example.org/feed"})
    )
    respx_mock.get("https://news.example.org/feed").mock(
        return_value=httpx.Response(200, text='{"title": "Moved", "url": "https://e.x/m"}\n')
    )
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["feed"], "feed_urls": ["http://news.example.org/feed"]},
        make_ctx(),
    )
    assert out.success and [t.title for t in out.trends] == ["Moved"]


async def test_private_hosts_can_be_allowed_for_local_feeds(make_ctx, respx_mock) -> None:
    # An allowlisted host (CHIMERA_SSRF_ALLOWED_HOSTS in production) skips the address check.
    respx_mock.get("http://127.0.0.1:8080/feed.jsonl").mock(
        return_value=httpx.Response(200, text='{"title": "Local", "url": "https://e.x/local"}\n')
    )
    async with offline_client(offline_guard(allowed=("127.0.0.1:8080",))) as allowing:
        out = await invoke_json(
            fetch_trends,
            {"platforms": ["feed"], "feed_urls": ["http://127.0.0.1:8080/feed.jsonl"]},
            make_ctx(untrusted_http=allowing),
        )
    assert out.success and [t.title for t in out.trends] == ["Local"]
