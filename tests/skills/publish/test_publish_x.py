"""X API v2: chunked media upload, processing status, the post, errors and engagement."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from skills.base import invoke_json
from skills.context import SkillContext
from skills.publish import fetch_engagement, find_publication, publish_content
from skills.ratelimit import Limit

API = "https://api.x.com"
MEDIA_ID = "1880028106020515840"
POST_ID = "1445880548472328192"
TEXT = "A title\n\nAbout it\n\n#ai #DeepLearning"


def media(processing: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": MEDIA_ID, "media_key": f"13_{MEDIA_ID}", **extra}
    if processing is not None:
        data["processing_info"] = processing
    return {"data": data}


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


DUPLICATE = problem(
    403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
)


def _mock_flow(
    router: respx.MockRouter, *, statuses: list[dict[str, Any]] | None = None, tweet: Any = None
) -> dict[str, respx.Route]:
    return {
        "init": router.post(f"{API}/2/media/upload/initialize").mock(
            return_value=httpx.Response(200, json=media(expires_after_secs=86399))
        ),
        "append": router.post(f"{API}/2/media/upload/{MEDIA_ID}/append").mock(
            return_value=httpx.Response(200, json={"data": {"expires_at": 1764180000}})
        ),
        "finalize": router.post(f"{API}/2/media/upload/{MEDIA_ID}/finalize").mock(
            return_value=httpx.Response(
                200,
                json=media(
                    {"state": "pending", "check_after_secs": 2}, size=2500, expires_after_secs=86400
                ),
            )
        ),
        "status": router.get(f"{API}/2/media/upload").mock(
            side_effect=[
                httpx.Response(200, json=s)
                for s in (
                    statuses
                    if statuses is not None
                    else [
                        media(
                            {"state": "in_progress", "check_after_secs": 3, "progress_percent": 45}
                        ),
                        media({"state": "succeeded", "progress_percent": 100}),
                    ]
                )
            ]
        ),
        "tweet": router.post(f"{API}/2/tweets").mock(
            **(
                {"side_effect": tweet}
                if tweet is not None
                else {
                    "return_value": httpx.Response(
                        201, json={"data": {"id": POST_ID, "text": "A title https://t.co/x1"}}
                    )
                }
            )
        ),
    }


def _request(video: Path, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "twitter",
        "video_path": str(video),
        "title": "A title",
        "description": "About it",
        "tags": ["ai", "deep learning"],
        "privacy": "public",
        "publication_id": "pub-x-1",
        **extra,
    }


async def test_chunked_upload_processing_and_post(
    ctx: SkillContext, router, tmp_path, make_video, fake_sleep, limiter
):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(router)

    out = await invoke_json(publish_content, _request(video), ctx)

    assert out.success, out.error
    assert (out.post_id, out.url, out.status) == (
        POST_ID,
        f"https://x.com/i/web/status/{POST_ID}",
        "published",
    )
    assert json.loads(routes["init"].calls.last.request.content) == {
        "media_type": "video/mp4",
        "total_bytes": 2500,
        "media_category": "tweet_video",
    }
    data = video.read_bytes()
    appends = [c.request for c in routes["append"].calls]
    assert len(appends) == 3
    for index, (request, chunk) in enumerate(
        zip(appends, (data[:1000], data[1000:2000], data[2000:]), strict=True)
    ):
        assert request.headers["content-type"].startswith("multipart/form-data")
        assert f'name="segment_index"\r\n\r\n{index}\r\n'.encode() in request.content
        assert b'name="media"' in request.content and chunk in request.content
    assert routes["finalize"].call_count == 1
    statuses = [c.request.url.params for c in routes["status"].calls]
    assert [(p["command"], p["media_id"]) for p in statuses] == [("STATUS", MEDIA_ID)] * 2
    assert fake_sleep.calls == [2.0, 3.0]  # check_after_secs honoured
    assert json.loads(routes["tweet"].calls.last.request.content) == {
        "text": TEXT,
        "media": {"media_ids": [MEDIA_ID]},
    }
    assert (
        routes["tweet"].calls.last.request.headers["authorization"] == "Bearer x-test-secret-token"
    )
    assert ("x:tweets:default", Limit(100, 900), 1) in limiter.acquired


async def test_duplicate_content_is_permanent(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(router, tweet=[httpx.Response(403, json=DUPLICATE)])
    out = await invoke_json(publish_content, _request(video), ctx)
    assert (out.error.code, out.error.category) == ("DUPLICATE_CONTENT", "permanent")
    assert routes["tweet"].call_count == 1 and routes["init"].call_count == 1


async def test_rate_limit_waits_until_reset_then_posts(
    ctx: SkillContext, router, tmp_path, make_video, fake_sleep, limiter
):
    video = make_video(tmp_path / "v.mp4", 2500)
    reset = int(time.time()) + 30
    limited = httpx.Response(
        429,
        json=problem(429, "Too Many Requests", "Too Many Requests"),
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    routes = _mock_flow(
        router,
        statuses=[],
        tweet=[limited, httpx.Response(201, json={"data": {"id": POST_ID, "text": "A title"}})],
    )
    routes["finalize"].mock(
        return_value=httpx.Response(200, json=media({"state": "succeeded"}, size=2500))
    )

    out = await invoke_json(publish_content, _request(video), ctx)

    assert out.success and out.post_id == POST_ID
    assert routes["tweet"].call_count == 2  # a 429 created nothing: posting again is safe
    assert any(25 <= wait <= 31 for wait in fake_sleep.calls)
    held = dict(limiter.held)
    assert 25 <= held["x:tweets:default"] <= 31


async def test_rate_limit_with_distant_reset_is_transient(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 2500)
    reset = int(time.time()) + 900
    limited = httpx.Response(
        429,
        json=problem(429, "Too Many Requests", "Too Many Requests"),
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    routes = _mock_flow(router, statuses=[], tweet=[limited] * 4)
    routes["finalize"].mock(return_value=httpx.Response(200, json=media(size=2500)))
    out = await invoke_json(publish_content, _request(video), ctx)
    assert (out.error.code, out.error.category, out.error.retryable) == (
        "RATE_LIMITED",
        "transient",
        True,
    )
    assert 890 <= out.error.details["retry_after_s"] <= 901
    assert out.error.details["attempts"] == 4


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(503, json=problem(503, "Service Unavailable", "Service Unavailable")),
    ],
)
async def test_post_without_answer_is_outcome_unknown_and_sent_once(
    ctx: SkillContext, router, tmp_path, make_video, failure
):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(router, tweet=[failure] * 4)
    out = await invoke_json(publish_content, _request(video), ctx)
    assert (out.error.code, out.error.category, out.error.retryable) == (
        "OUTCOME_UNKNOWN",
        "permanent",
        False,
    )
    assert out.error.details["step"] == "create post"
    assert routes["tweet"].call_count == 1  # the create step ran exactly once
    assert routes["init"].call_count == 1


async def test_connect_failure_before_the_post_is_transient(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(
        router,
        statuses=[],
        tweet=[
            httpx.ConnectError("connection refused"),
            httpx.Response(201, json={"data": {"id": POST_ID, "text": "A title"}}),
        ],
    )
    routes["finalize"].mock(return_value=httpx.Response(200, json=media(size=2500)))
    out = await invoke_json(publish_content, _request(video), ctx)
    assert out.success and routes["tweet"].call_count == 2  # never sent: safe to send again


async def test_revoked_token_is_permanent_without_leaking_it(
    ctx: SkillContext, router, tmp_path, make_video, no_secrets, caplog
):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(router)
    routes["init"].mock(
        return_value=httpx.Response(401, json=problem(401, "Unauthorized", "Unauthorized"))
    )
    with caplog.at_level(logging.DEBUG):
        out = await invoke_json(publish_content, _request(video), ctx)
    assert (out.error.code, out.error.category) == ("AUTH_INVALID", "permanent")
    assert routes["init"].call_count == 1 and routes["tweet"].call_count == 0
    no_secrets(out.model_dump_json(), caplog.text)


async def test_rejected_media_is_not_posted(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(
        router,
        statuses=[
            media(
                {
                    "state": "failed",
                    "progress_percent": 12,
                    "error": {
                        "code": 1,
                        "name": "InvalidMedia",
                        "message": "Unsupported video format",
                    },
                }
            )
        ],
    )
    out = await invoke_json(publish_content, _request(video), ctx)
    assert (out.error.code, out.error.category) == ("MEDIA_REJECTED", "validation")
    assert "Unsupported video format" in out.error.message
    assert routes["tweet"].call_count == 0


async def test_failed_segment_is_sent_again(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(router)
    ok = httpx.Response(200, json={"data": {"expires_at": 1764180000}})
    routes["append"].mock(side_effect=[ok, httpx.Response(500), httpx.ReadTimeout("t"), ok, ok])
    out = await invoke_json(publish_content, _request(video), ctx)
    assert out.success, out.error
    indexes = [
        c.request.content.split(b'name="segment_index"\r\n\r\n')[1][:1]
        for c in routes["append"].calls
    ]
    assert indexes == [b"0", b"1", b"1", b"1", b"2"]
    assert routes["init"].call_count == 1


async def test_x_needs_public_unscheduled_posts_that_fit(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 2500)
    routes = _mock_flow(router)
    out = await invoke_json(publish_content, _request(video, privacy="private"), ctx)
    assert out.error.code == "INVALID_FOR_PLATFORM" and out.error.category == "validation"
    out = await invoke_json(
        publish_content, _request(video, scheduled_at="2099-01-01T00:00:00Z"), ctx
    )
    assert out.error.code == "INVALID_FOR_PLATFORM"
    out = await invoke_json(publish_content, _request(video, title="界" * 141), ctx)  # 282 weighted
    assert out.error.code == "TITLE_TOO_LONG"
    assert routes["init"].call_count == 0


async def test_engagement_from_public_metrics(ctx: SkillContext, router):
    route = router.get(f"{API}/2/tweets/{POST_ID}").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": {
                    "id": POST_ID,
                    "text": "A title",
                    "edit_history_tweet_ids": [POST_ID],
                    "public_metrics": {
                        "retweet_count": 5,
                        "reply_count": 7,
                        "like_count": 30,
                        "quote_count": 3,
                        "bookmark_count": 2,
                        "impression_count": 900,
                    },
                }
            },
        )
    )
    out = await invoke_json(fetch_engagement, {"platform": "twitter", "post_id": POST_ID}, ctx)
    assert out.success, out.error
    assert (out.views, out.likes, out.comments, out.shares) == (900, 30, 7, 8)
    assert out.engagement_rate == pytest.approx(45 / 900)
    assert route.calls.last.request.url.params["tweet.fields"] == "public_metrics"

    router.get(f"{API}/2/tweets/1").mock(
        return_value=httpx.Response(
            200,
            json={
                "errors": [
                    {
                        "value": "1",
                        "detail": "Could not find tweet with id: [1].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "id",
                        "resource_id": "1",
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                ]
            },
        )
    )
    missing = await invoke_json(fetch_engagement, {"platform": "twitter", "post_id": "1"}, ctx)
    assert not missing.success and missing.error.code == "POST_NOT_FOUND"


async def test_find_publication_in_recent_posts(ctx: SkillContext, router):
    router.get(f"{API}/2/users/me").mock(
        return_value=httpx.Response(
            200,
            json={"data": {"id": "2244994945", "name": "Chimera", "username": "chimera_studio"}},
        )
    )
    timeline = router.get(f"{API}/2/users/2244994945/tweets").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    {
                        "id": "1",
                        "text": "Something else",
                        "edit_history_tweet_ids": ["1"],
                        "created_at": "2026-11-25T16:00:00.000Z",
                    },
                    {
                        "id": POST_ID,
                        "text": "Q&amp;A title\n\nAbout it https://t.co/x1",
                        "edit_history_tweet_ids": [POST_ID],
                        "created_at": "2026-11-25T16:40:00.000Z",
                    },
                ],
                "meta": {"result_count": 2, "newest_id": POST_ID, "oldest_id": "1"},
            },
        )
    )
    found = await invoke_json(
        find_publication,
        {"platform": "twitter", "publication_id": "pub-x-1", "title": "Q&A title"},
        ctx,
    )
    assert found.success and found.found and found.post_id == POST_ID
    assert found.published_at is not None and found.published_at.minute == 40
    assert timeline.calls.last.request.url.params["max_results"] == "20"
    absent = await invoke_json(
        find_publication,
        {"platform": "twitter", "publication_id": "pub-x-2", "title": "Never posted"},
        ctx,
    )
    assert absent.success and absent.found is False
