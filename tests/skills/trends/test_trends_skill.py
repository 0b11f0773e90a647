"""The skill as a whole: partial failure, velocity on the real database, shared rate limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from core.errors import ErrorCategory
from events.trend import EngagementMetrics, Trend
from skills.base import REGISTRY, invoke_json
from skills.trends import FetchTrendsOutput, fetch_trends
from skills.trends.velocity import apply_velocity, views_per_hour

VIDEOS = "https://www.googleapis.com/youtube/v3/videos"
X_TRENDS = "https://api.x.com/2/trends/by/woeid/1"


def youtube_listing(*ids: str) -> dict:
    return {
        "kind": "youtube#videoListResponse",
        "items": [
            {
                "kind": "youtube#video",
                "id": i,
                "snippet": {"title": f"Video {i}", "tags": ["t"]},
                "statistics": {"viewCount": "100", "likeCount": "5", "commentCount": "1"},
            }
            for i in ids
        ],
        "pageInfo": {"totalResults": len(ids), "resultsPerPage": len(ids)},
    }


async def test_partial_failure_returns_the_others_trends_and_the_errors(
    kit, make_ctx, respx_mock
) -> None:
    respx_mock.get(VIDEOS).mock(
        return_value=httpx.Response(
            200, json=youtube_listing("aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc")
        )
    )
    respx_mock.get(X_TRENDS).mock(
        return_value=httpx.Response(
            401,
            json={
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
        )
    )
    ts = kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY, x_bearer_token=kit.X_TOKEN)
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["youtube", "twitter", "tiktok", "feed"], "categories": [], "max_results": 6},
        make_ctx(ts),
    )

    assert out.success and out.error is None
    # Interleaved by rank: youtube #1, feed #1, youtube #2, feed #2, ...
    assert [t.platform for t in out.trends] == ["youtube", "feed"] * 3
    assert out.metadata.total_results == 6
    assert out.metadata.platforms_queried == ["youtube", "twitter", "tiktok", "feed"]
    errors = {e.platform: e.error for e in out.errors}
    assert set(errors) == {"twitter", "tiktok"}
    assert errors["twitter"].code == "X_AUTH_FAILED"
    assert errors["tiktok"].code == "TIKTOK_NOT_CONFIGURED"
    assert errors["tiktok"].category is ErrorCategory.PERMANENT
    kit.assert_no_secret(out.model_dump_json())
    # The output is the specification's shape (plus `errors`, and the trends' optional
    # `thumbnail_url`).
    dumped = json.loads(out.model_dump_json())
    assert set(dumped) == {"success", "trends", "metadata", "error", "errors"}
    assert set(dumped["metadata"]) == {"total_results", "fetch_time", "platforms_queried"}
    assert set(dumped["trends"][0]) == {
        "id",
        "platform",
        "topic",
        "title",
        "description",
        "engagement_metrics",
        "velocity",
        "timestamp",
        "url",
        "tags",
        "thumbnail_url",
    }


async def test_when_every_platform_fails_the_call_fails(kit, make_ctx, respx_mock) -> None:
    respx_mock.get(X_TRENDS).mock(return_value=httpx.Response(503, text="over capacity"))
    ts = kit.trends_settings(x_bearer_token=kit.X_TOKEN)
    out = await invoke_json(fetch_trends, {"platforms": ["twitter", "tiktok"]}, make_ctx(ts))
    assert not out.success and out.error is not None
    # One platform was permanent: no blind retry, a person is told.
    assert out.error.category is ErrorCategory.PERMANENT
    assert out.error.code == "TIKTOK_NOT_CONFIGURED"
    codes = {e["details"]["platform"]: e["code"] for e in out.error.details["errors"]}
    assert codes == {"twitter": "UPSTREAM_UNAVAILABLE", "tiktok": "TIKTOK_NOT_CONFIGURED"}
    assert out.trends == [] and out.metadata.total_results == 0


async def test_all_transient_failures_are_retried_as_one_transient_error(
    kit, make_ctx, respx_mock
) -> None:
    x = respx_mock.get(X_TRENDS).mock(return_value=httpx.Response(503))
    yt = respx_mock.get(VIDEOS).mock(side_effect=httpx.ConnectTimeout("slow"))
    ts = kit.trends_settings(youtube_api_key=kit.YOUTUBE_KEY, x_bearer_token=kit.X_TOKEN)
    out = await invoke_json(fetch_trends, {"platforms": ["twitter", "youtube"]}, make_ctx(ts))
    assert out.error is not None and out.error.code == "ALL_PLATFORMS_FAILED"
    assert out.error.retryable and out.error.details["attempts"] == 4
    assert x.call_count == 4 and yt.call_count == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"platforms": ["myspace"]},
        {"platforms": []},
        {"max_results": 0},
        {"max_results": 51},
        {"time_range": "1y"},
        {"region_code": "usa"},
        {"unexpected": True},
    ],
)
async def test_invalid_input_is_a_validation_error(make_ctx, bad: dict) -> None:
    out = await invoke_json(fetch_trends, bad, make_ctx())
    assert isinstance(out, FetchTrendsOutput)
    assert out.error is not None and out.error.category is ErrorCategory.VALIDATION


def test_the_skill_is_registered() -> None:
    assert REGISTRY["skill_fetch_trends"] is fetch_trends
    schema = fetch_trends.schemas()
    assert schema["input_schema"]["properties"]["max_results"]["maximum"] == 50


def _trend(trend_id: str, views: int, at: datetime) -> Trend:
    return Trend(
        id=trend_id,
        platform="feed",
        topic="t",
        title="T",
        engagement_metrics=EngagementMetrics.of(views=views),
        timestamp=at,
        url="https://e.x/",
    )


async def test_velocity_from_two_snapshots(pool: asyncpg.Pool) -> None:
    t0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    [first] = await apply_velocity(pool, [_trend("feed:a", 1000, t0)], t0)
    assert first.velocity == 0.0  # first sighting
    later = t0 + timedelta(minutes=30)
    [second] = await apply_velocity(pool, [_trend("feed:a", 1600, later)], later)
    assert second.velocity == pytest.approx(1200.0)  # 600 views in half an hour
    # Seconds later: compared with the last snapshot at least a minute old, not the newest.
    soon = later + timedelta(seconds=10)
    [third] = await apply_velocity(pool, [_trend("feed:a", 1700, soon)], soon)
    assert third.velocity == pytest.approx(700 / ((30 * 60 + 10) / 3600), rel=1e-4)
    rows = await pool.fetch(
        "SELECT views FROM trend_snapshots WHERE trend_id = 'feed:a' ORDER BY observed_at"
    )
    assert [r["views"] for r in rows] == [1000, 1600, 1700]
    assert views_per_hour(10, 5, t0, t0) == 0.0


async def test_skill_records_snapshots_and_reports_velocity(
    kit, make_ctx, pool: asyncpg.Pool, tmp_path
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "v1", "title": "Growing", "url": "https://e.x/v1", "views": 1000}\n')
    ts = kit.trends_settings(trends_feed_urls=[str(feed)])
    out = await invoke_json(fetch_trends, {"platforms": ["feed"]}, make_ctx(ts, pool=pool))
    assert out.success and out.trends[0].velocity == 0.0
    # Pretend that snapshot was taken two hours ago, and the item grew by 3,000 views since.
    await pool.execute("UPDATE trend_snapshots SET observed_at = observed_at - interval '2 hours'")
    feed.write_text('{"id": "v1", "title": "Growing", "url": "https://e.x/v1", "views": 4000}\n')
    out = await invoke_json(fetch_trends, {"platforms": ["feed"]}, make_ctx(ts, pool=pool))
    assert out.trends[0].velocity == pytest.approx(1500.0, rel=1e-3)
    assert await pool.fetchval("SELECT count(*) FROM trend_snapshots") == 2


async def test_a_429_holds_the_shared_postgres_bucket(
    kit, make_ctx, respx_mock, pool: asyncpg.Pool
) -> None:
    respx_mock.get(X_TRENDS).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "40"},
            json={
                "title": "Too Many Requests",
                "status": 429,
                "type": "about:blank",
                "detail": "Too Many Requests",
            },
        )
    )
    ts = kit.trends_settings(x_bearer_token=kit.X_TOKEN, trends_limiter_max_wait_s=5)
    ctx = make_ctx(ts, pool=pool)  # no ctx.limiter: the skill uses PostgreSQL's
    out = await invoke_json(fetch_trends, {"platforms": ["twitter"]}, ctx)
    assert out.error is not None and out.error.retryable
    # First attempt: 429, bucket held for 40 s. Retries: refused locally (RATE_LIMITED from
    # the limiter, no request sent) because the hold is longer than the 5 s max wait.
    assert respx_mock.calls.call_count == 1
    assert out.error.code == "RATE_LIMITED" and out.error.details["bucket"].startswith("x:")
    row = await pool.fetchrow("SELECT bucket, held_until - now() AS left FROM rate_limit_buckets")
    assert row["bucket"].startswith("x:trends:") and kit.X_TOKEN not in row["bucket"]
    assert timedelta(seconds=30) < row["left"] <= timedelta(seconds=40)
