"""TikTok: refused clearly when unconfigured; the Research API as documented when configured."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx

from core.errors import ErrorCategory
from skills.base import invoke_json
from skills.trends import fetch_trends
from skills.trends.tiktok import NOT_CONFIGURED

TOKEN = "https://open.tiktokapis.com/v2/oauth/token/"
QUERY = "https://open.tiktokapis.com/v2/research/video/query/"
CLIENT_TOKEN = "clt.example12345Example12345Example"
OK = {"code": "ok", "message": "", "log_id": "20261125163000ABCDEF0123456789"}


def token_ok() -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": CLIENT_TOKEN, "expires_in": 7200, "token_type": "Bearer"}
    )


def video(
    video_id: int,
    views: int,
    description: str,
    hashtags: list[str],
    age: timedelta = timedelta(hours=3),
) -> dict:
    return {
        "id": video_id,
        "video_description": description,
        "create_time": int(time.time() - age.total_seconds()),
        "region_code": "US",
        "share_count": 12,
        "view_count": views,
        "like_count": views // 10,
        "comment_count": 7,
        "hashtag_names": hashtags,
        "username": "creator_one",
    }


async def test_unconfigured_tiktok_is_a_clear_permanent_error(make_ctx) -> None:
    out = await invoke_json(fetch_trends, {"platforms": ["tiktok"]}, make_ctx())
    assert not out.success and out.error is not None
    assert out.error.code == "TIKTOK_NOT_CONFIGURED"
    assert out.error.message == NOT_CONFIGURED
    assert "no public commercial trends API" in out.error.message
    assert out.error.category is ErrorCategory.PERMANENT and not out.error.retryable


async def test_research_api_query_becomes_ranked_trends(kit, make_ctx, respx_mock) -> None:
    token = respx_mock.post(TOKEN).mock(return_value=token_ok())
    query = respx_mock.post(QUERY).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": {
                    "videos": [
                        video(
                            7301234567890123456,
                            1200,
                            "Kitchen science: red cabbage pH",
                            ["science"],
                        ),
                        video(
                            7301234567890123457,
                            98000,
                            "Retro handheld unboxing #gaming",
                            ["gaming", "retro"],
                        ),
                        video(7301234567890123458, 50, "too old", [], age=timedelta(days=3)),
                    ],
                    "cursor": 100,
                    "has_more": False,
                    "search_id": "7301234567890000000",
                },
                "error": OK,
            },
        )
    )
    ts = kit.trends_settings(
        tiktok_client_key=kit.TIKTOK_KEY, tiktok_client_secret=kit.TIKTOK_SECRET
    )
    limiter = kit.RecordingLimiter()
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["tiktok"], "categories": ["gaming", "science"], "time_range": "24h"},
        make_ctx(ts, limiter=limiter),
    )
    assert out.success, out.error

    form = parse_qs(token.calls.last.request.content.decode())
    assert form == {
        "client_key": [kit.TIKTOK_KEY],
        "client_secret": [kit.TIKTOK_SECRET],
        "grant_type": ["client_credentials"],
    }
    request = query.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {CLIENT_TOKEN}"
    assert "view_count" in request.url.params["fields"]
    body = json.loads(request.content)
    today = datetime.now(UTC)
    assert body["end_date"] == today.strftime("%Y%m%d")
    assert body["start_date"] == (today - timedelta(hours=24)).strftime("%Y%m%d")
    assert body["query"]["and"] == [
        {"operation": "IN", "field_name": "region_code", "field_values": ["US"]}
    ]
    assert {c["field_values"][0] for c in body["query"]["or"]} == {"gaming", "science"}
    assert body["max_count"] == 100 and body["is_random"] is False

    assert [t.id for t in out.trends] == [
        "tiktok:7301234567890123457",
        "tiktok:7301234567890123456",
    ]
    top = out.trends[0]
    assert top.platform == "tiktok" and top.topic == "gaming"
    assert top.engagement_metrics.views == 98000 and top.engagement_metrics.shares == 12
    assert top.url == "https://www.tiktok.com/@creator_one/video/7301234567890123457"
    assert [b.split(":")[0] for b, _, _ in limiter.acquired] == ["tiktok"]
    kit.assert_no_secret(out.model_dump_json())


async def test_invalid_access_token_is_permanent(kit, make_ctx, respx_mock) -> None:
    respx_mock.post(TOKEN).mock(return_value=token_ok())
    respx_mock.post(QUERY).mock(
        return_value=httpx.Response(
            401,
            json={
                "error": {
                    "code": "access_token_invalid",
                    "message": "The access token is invalid or not found in the request.",
                    "log_id": "202611251630000ABCDEF",
                }
            },
        )
    )
    ts = kit.trends_settings(
        tiktok_client_key=kit.TIKTOK_KEY, tiktok_client_secret=kit.TIKTOK_SECRET
    )
    out = await invoke_json(fetch_trends, {"platforms": ["tiktok"]}, make_ctx(ts))
    assert out.error is not None and out.error.code == "TIKTOK_AUTH_FAILED"
    assert out.error.category is ErrorCategory.PERMANENT
    assert out.error.details["tiktok_code"] == "access_token_invalid"


async def test_refused_client_credentials_are_permanent_and_hidden(
    kit, make_ctx, respx_mock
) -> None:
    respx_mock.post(TOKEN).mock(
        return_value=httpx.Response(
            401,
            json={
                "error": "invalid_client",
                "error_description": "Client key or secret is incorrect.",
                "log_id": "202611251630000ABCDEF",
            },
        )
    )
    ts = kit.trends_settings(
        tiktok_client_key=kit.TIKTOK_KEY, tiktok_client_secret=kit.TIKTOK_SECRET
    )
    out = await invoke_json(fetch_trends, {"platforms": ["tiktok"]}, make_ctx(ts))
    assert out.error is not None and out.error.code == "TIKTOK_AUTH_FAILED"
    kit.assert_no_secret(out.model_dump_json())


async def test_rate_limit_is_transient_and_holds(kit, make_ctx, respx_mock) -> None:
    respx_mock.post(TOKEN).mock(return_value=token_ok())
    respx_mock.post(QUERY).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "60"},
            json={
                "error": {
                    "code": "rate_limit_exceeded",
                    "message": "Daily quota reached",
                    "log_id": "x",
                }
            },
        )
    )
    ts = kit.trends_settings(
        tiktok_client_key=kit.TIKTOK_KEY, tiktok_client_secret=kit.TIKTOK_SECRET
    )
    limiter = kit.RecordingLimiter()
    out = await invoke_json(fetch_trends, {"platforms": ["tiktok"]}, make_ctx(ts, limiter=limiter))
    assert out.error is not None and out.error.code == "RATE_LIMITED" and out.error.retryable
    assert limiter.holds and limiter.holds[0][1] == 60


async def test_error_object_with_200_and_missing_videos(kit, make_ctx, respx_mock) -> None:
    respx_mock.post(TOKEN).mock(return_value=token_ok())
    route = respx_mock.post(QUERY).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": {},
                "error": {
                    "code": "invalid_params",
                    "message": "start_date is invalid",
                    "log_id": "x",
                },
            },
        )
    )
    ts = kit.trends_settings(
        tiktok_client_key=kit.TIKTOK_KEY, tiktok_client_secret=kit.TIKTOK_SECRET
    )
    out = await invoke_json(fetch_trends, {"platforms": ["tiktok"]}, make_ctx(ts))
    assert out.error is not None and out.error.code == "TIKTOK_INVALID_QUERY"

    route.return_value = httpx.Response(200, json={"data": {"cursor": 0}, "error": OK})
    out = await invoke_json(fetch_trends, {"platforms": ["tiktok"]}, make_ctx(ts))
    assert out.error is not None and out.error.code == "MALFORMED_RESPONSE"
