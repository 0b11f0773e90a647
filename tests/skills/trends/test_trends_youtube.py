"""YouTube source against responses shaped as the YouTube Data API v3 documents them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from core.errors import ErrorCategory
from events.trend import EngagementMetrics
from skills.base import invoke_json
from skills.trends import fetch_trends
from skills.trends.youtube import category_queries, quota_reset_in

VIDEOS = "https://www.googleapis.com/youtube/v3/videos"


def video(
    video_id: str,
    title: str,
    views: str,
    likes: str | None = "10",
    comments: str | None = "2",
    tags: list[str] | None = None,
) -> dict:
    stats = {"viewCount": views, "favoriteCount": "0"}
    if likes is not None:
        stats["likeCount"] = likes
    if comments is not None:
        stats["commentCount"] = comments
    snippet = {
        "publishedAt": "2026-11-24T15:00:07Z",
        "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
        "title": title,
        "description": f"About {title}.",
        "thumbnails": {
            "default": {"url": "https://i.ytimg.com/vi/x/default.jpg", "width": 120, "height": 90}
        },
        "channelTitle": "Some Channel",
        "categoryId": "28",
        "liveBroadcastContent": "none",
        "localized": {"title": title, "description": f"About {title}."},
    }
    if tags is not None:
        snippet["tags"] = tags
    return {
        "kind": "youtube#video",
        "etag": "etag-" + video_id,
        "id": video_id,
        "snippet": snippet,
        "statistics": stats,
    }


def listing(*items: dict) -> dict:
    return {
        "kind": "youtube#videoListResponse",
        "etag": "list-etag",
        "items": list(items),
        "nextPageToken": "CAUQAA",
        "pageInfo": {"totalResults": 200, "resultsPerPage": len(items)},
    }


def google_error(code: int, reason: str, message: str, domain: str = "youtube.quota") -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


QUOTA = google_error(
    403,
    "quotaExceeded",
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.',
)
KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "errors": [
            {
                "message": "API key not valid. Please pass a valid API key.",
                "domain": "global",
                "reason": "badRequest",
            }
        ],
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "youtube.googleapis.com"},
            }
        ],
    }
}


async def test_charts_per_category_are_mapped_to_trends(kit, make_ctx, respx_mock) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        category = request.url.params["videoCategoryId"]
        if category == "28":
            return httpx.Response(
                200,
                json=listing(
                    video(
                        "dQw4w9WgXcQ",
                        "Synthwave in 60 seconds",
                        "120000",
                        "9000",
                        "400",
                        tags=["synthwave", "music"],
                    ),
                    video("abcdefghijk", "No likes shown", "5000", likes=None, comments=None),
                ),
            )
        return httpx.Response(
            200,
            json=listing(
                video("dQw4w9WgXcQ", "Synthwave in 60 seconds", "120000", "9000", "400"),
            ),
        )

    route = respx_mock.get(VIDEOS).mock(side_effect=answer)
    limiter = kit.RecordingLimiter()
    ctx = make_ctx(
        kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY, youtube_region_code="GB"),
        limiter=limiter,
    )
    out = await invoke_json(
        fetch_trends,
        {
            "platforms": ["youtube"],
            "categories": ["technology", "music", "not-a-category"],
            "max_results": 10,
        },
        ctx,
    )

    assert out.success, out.error
    assert route.call_count == 2
    sent = [dict(call.request.url.params) for call in route.calls]
    assert {p["videoCategoryId"] for p in sent} == {"28", "10"}
    for params in sent:
        assert params["part"] == "snippet,statistics" and params["chart"] == "mostPopular"
        assert params["regionCode"] == "GB" and params["maxResults"] == "10"
        assert params["key"] == kit.YOUTUBE_KEY
    # One quota unit per call, on a bucket named without the key.
    assert [(c, lim.calls) for _, lim, c in limiter.acquired] == [(1, 10_000), (1, 10_000)]
    assert all(kit.YOUTUBE_KEY not in b for b, _, _ in limiter.acquired)

    first, second = out.trends
    assert first.id == "youtube:dQw4w9WgXcQ" and first.platform == "youtube"
    assert first.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert first.engagement_metrics == EngagementMetrics.of(views=120000, likes=9000, comments=400)
    assert first.topic == "synthwave"
    assert first.tags[:2] == ["technology", "synthwave"] and "music" in first.tags  # merged
    assert second.engagement_metrics.likes == 0 and second.engagement_metrics.views == 5000
    assert out.metadata.total_results == 2 and out.metadata.platforms_queried == ["youtube"]
    kit.assert_no_secret(out.model_dump_json())


def test_category_mapping() -> None:
    assert category_queries([]) == [(None, None)]
    assert category_queries(["nothing-known"]) == [(None, None)]
    assert category_queries(["Tech", "technology", "gaming"]) == [("Tech", "28"), ("gaming", "20")]


async def test_quota_exceeded_is_transient_until_midnight_pacific(
    kit, make_ctx, respx_mock
) -> None:
    respx_mock.get(VIDEOS).mock(return_value=httpx.Response(403, json=QUOTA))
    limiter = kit.RecordingLimiter()
    ctx = make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY), limiter=limiter)
    out = await invoke_json(fetch_trends, {"platforms": ["youtube"]}, ctx)

    assert not out.success and out.error is not None
    assert out.error.code == "QUOTA_EXCEEDED"
    assert out.error.category is ErrorCategory.TRANSIENT and out.error.retryable
    assert out.error.details["reasons"] == ["quotaExceeded"]
    assert out.error.details["attempts"] == 4  # the skill standard: 3 retries
    expected = quota_reset_in(datetime.now(UTC))
    # The reset time is reported; the bucket is held until then for every process; retries
    # back off briefly (no hours-long Retry-After floor).
    assert abs(out.error.details["quota_resets_in_s"] - expected) < 120
    assert datetime.fromisoformat(out.error.details["quota_resets_at"]) > datetime.now(UTC)
    assert len(ctx.sleep.delays) == 3 and max(ctx.sleep.delays) < 60
    assert limiter.holds and abs(limiter.holds[0][1] - expected) < 120
    assert "key=" not in out.error.details["url"]
    kit.assert_no_secret(out.model_dump_json())


def test_quota_reset_is_next_pacific_midnight() -> None:
    # 2026-11-25 07:30 UTC is 23:30 PST: 30 minutes to go.
    assert quota_reset_in(datetime(2026, 11, 25, 7, 30, tzinfo=UTC)) == pytest.approx(1800)
    # In July (PDT, UTC-7), 06:00 UTC is 23:00: one hour.
    assert quota_reset_in(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)) == pytest.approx(3600)


async def test_invalid_key_is_permanent_and_not_retried(kit, make_ctx, respx_mock) -> None:
    route = respx_mock.get(VIDEOS).mock(return_value=httpx.Response(400, json=KEY_INVALID))
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["youtube"]},
        make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY)),
    )
    assert not out.success and out.error is not None
    assert out.error.code == "YOUTUBE_AUTH_FAILED"
    assert out.error.category is ErrorCategory.PERMANENT and not out.error.retryable
    assert route.call_count == 1
    kit.assert_no_secret(out.model_dump_json())


async def test_rate_limit_then_success_is_retried(kit, make_ctx, respx_mock) -> None:
    respx_mock.get(VIDEOS).mock(
        side_effect=[
            httpx.Response(
                403,
                json=google_error(
                    403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits"
                ),
                headers={"Retry-After": "7"},
            ),
            httpx.Response(
                503, json=google_error(503, "backendError", "Backend Error", domain="global")
            ),
            httpx.Response(200, json=listing(video("dQw4w9WgXcQ", "Back again", "10"))),
        ]
    )
    limiter = kit.RecordingLimiter()
    ctx = make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY), limiter=limiter)
    out = await invoke_json(fetch_trends, {"platforms": ["youtube"]}, ctx)
    assert out.success and [t.title for t in out.trends] == ["Back again"]
    assert ctx.sleep.delays[0] >= 7  # Retry-After honoured
    assert limiter.holds[0][1] == 7


async def test_timeout_and_connection_errors_are_transient(kit, make_ctx, respx_mock) -> None:
    route = respx_mock.get(VIDEOS).mock(side_effect=httpx.ReadTimeout("timed out"))
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["youtube"]},
        make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY)),
    )
    assert out.error is not None and out.error.code == "TIMEOUT" and out.error.retryable
    assert "key=" not in out.error.details["url"] and "part=" in out.error.details["url"]

    route.side_effect = httpx.ConnectError("refused")
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["youtube"]},
        make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY)),
    )
    assert out.error is not None and out.error.code == "NETWORK_ERROR"
    kit.assert_no_secret(out.model_dump_json())


async def test_malformed_body_is_unknown(kit, make_ctx, respx_mock) -> None:
    respx_mock.get(VIDEOS).mock(return_value=httpx.Response(200, text="<html>oops</html>"))
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["youtube"]},
        make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY)),
    )
    assert out.error is not None and out.error.code == "MALFORMED_RESPONSE"
    assert out.error.category is ErrorCategory.UNKNOWN


async def test_missing_chart_for_one_category_is_reported_not_fatal(
    kit, make_ctx, respx_mock
) -> None:
    not_found = google_error(
        404,
        "videoChartNotFound",
        "The requested video chart is not supported or is not available.",
        domain="youtube.video",
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["videoCategoryId"] == "27":
            return httpx.Response(404, json=not_found)
        return httpx.Response(200, json=listing(video("aaaaaaaaaaa", "Gaming hit", "99")))

    respx_mock.get(VIDEOS).mock(side_effect=answer)
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["youtube"], "categories": ["education", "gaming"]},
        make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY)),
    )
    assert out.success and [t.title for t in out.trends] == ["Gaming hit"]
    assert len(out.errors) == 1 and out.errors[0].source == "category:education"
    assert out.errors[0].error.code == "YOUTUBE_CHART_NOT_FOUND"


async def test_not_configured_is_permanent(make_ctx) -> None:
    out = await invoke_json(fetch_trends, {"platforms": ["youtube"]}, make_ctx())
    assert out.error is not None and out.error.code == "YOUTUBE_NOT_CONFIGURED"
    assert out.error.category is ErrorCategory.PERMANENT


async def test_the_key_never_reaches_the_logs(kit, make_ctx, respx_mock, caplog) -> None:
    respx_mock.get(VIDEOS).mock(return_value=httpx.Response(403, json=QUOTA))
    caplog.set_level(logging.DEBUG)
    await invoke_json(
        fetch_trends,
        {"platforms": ["youtube"]},
        make_ctx(kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY)),
    )
    request_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert request_lines and all("part=snippet" in line for line in request_lines)
    kit.assert_no_secret(caplog.text)
    kit.assert_no_secret("\n".join(r.getMessage() for r in caplog.records))
