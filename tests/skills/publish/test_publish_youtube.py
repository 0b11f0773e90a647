"""YouTube: resumable upload (308s, interruption and resume), errors, engagement, reconcile."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from skills.base import invoke_json
from skills.context import SkillContext
from skills.publish import fetch_engagement, find_publication, publish_content
from skills.ratelimit import Limit

UPLOAD = "https://www.googleapis.com/upload/youtube/v3/videos"
SESSION = f"{UPLOAD}?uploadType=resumable&upload_id=xa298sd_f&part=snippet,status"
API = "https://www.googleapis.com/youtube/v3"
CHUNK = 256 * 1024
TOTAL = 3 * CHUNK + 1000

VIDEO = {
    "kind": "youtube#video",
    "etag": "Bdx4f4ps3xCOOo1WZ91nTLkRZ_c",
    "id": "Ks-_Mh1QhMc",
    "snippet": {
        "publishedAt": "2026-11-25T16:40:00Z",
        "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
        "title": "A title",
        "description": "About it",
        "categoryId": "22",
    },
    "status": {
        "uploadStatus": "uploaded",
        "privacyStatus": "private",
        "license": "youtube",
        "embeddable": True,
        "publicStatsViewable": True,
        "selfDeclaredMadeForKids": False,
    },
}


def google_error(
    code: int, reason: str, message: str, domain: str = "youtube.quota", status: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if status:
        error["status"] = status
    return {"error": error}


QUOTA = google_error(
    403,
    "quotaExceeded",
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.',
)
AUTH = google_error(
    401,
    "authError",
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential.",
    domain="global",
    status="UNAUTHENTICATED",
)


class ResumableServer:
    """The upload session as Google documents it; `faults` break chosen calls (0-based).

    drop: half the chunk arrives, then the connection resets; 503: the server fails;
    lost: the chunk arrives completely but the answer is lost (read timeout);
    timeout: the request times out before anything arrives.
    """

    def __init__(self, total: int, faults: dict[int, str] | None = None) -> None:
        self.total = total
        self.faults = faults or {}
        self.data = bytearray()
        self.ranges: list[str] = []
        self.problems: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        content_range = request.headers["content-range"]
        self.ranges.append(content_range)
        fault = self.faults.get(len(self.ranges) - 1)
        if request.headers.get("authorization") != "Bearer ya29.test-youtube-secret-token":
            self.problems.append("no bearer token")
        if content_range.startswith("bytes */"):
            if fault == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if len(self.data) == self.total:
                return httpx.Response(201, json=VIDEO)
            return self._incomplete()
        first, last, total = map(
            int, re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range).groups()
        )
        body = request.content
        if first != len(self.data) or len(body) != last - first + 1 or total != self.total:
            self.problems.append(f"bad chunk {content_range}")
        if last != total - 1 and len(body) % CHUNK:
            self.problems.append(f"chunk not a multiple of 256 KiB: {content_range}")
        if fault == "drop":
            self.data += body[: len(body) // 2]
            raise httpx.ReadError("connection reset by peer", request=request)
        if fault == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if fault == "503":
            return httpx.Response(
                503, json=google_error(503, "backendError", "Backend Error", domain="global")
            )
        self.data += body
        if fault == "lost":
            raise httpx.ReadTimeout("timed out", request=request)
        if len(self.data) == self.total:
            return httpx.Response(200, json=VIDEO)
        return self._incomplete()

    def _incomplete(self) -> httpx.Response:
        headers = {"Range": f"bytes=0-{len(self.data) - 1}"} if self.data else {}
        return httpx.Response(308, headers=headers)


def _routes(router: respx.MockRouter, server: ResumableServer) -> tuple[respx.Route, respx.Route]:
    initiate = router.post(url__startswith=UPLOAD).mock(
        return_value=httpx.Response(200, headers={"Location": SESSION})
    )
    put = router.put(url__startswith=UPLOAD).mock(side_effect=server)
    return initiate, put


def _request(video: Path, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "youtube",
        "video_path": str(video),
        "title": "A title",
        "description": "About it",
        "tags": ["ai", "deep learning"],
        "privacy": "private",
        "publication_id": "pub-yt-1",
        **extra,
    }


async def test_resumable_upload_with_several_308s(
    ctx: SkillContext, router, tmp_path, make_video, limiter
):
    video = make_video(tmp_path / "v.mp4", TOTAL)
    server = ResumableServer(TOTAL)
    initiate, _ = _routes(router, server)

    out = await invoke_json(publish_content, _request(video), ctx)

    assert out.success, out.error
    assert (out.post_id, out.url, out.status) == (
        "Ks-_Mh1QhMc",
        "https://www.youtube.com/watch?v=Ks-_Mh1QhMc",
        "published",
    )
    assert out.published_at is not None and out.published_at.isoformat().startswith("2026-11-25")
    assert server.ranges == [
        f"bytes 0-{CHUNK - 1}/{TOTAL}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{TOTAL}",
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{TOTAL}",
        f"bytes {3 * CHUNK}-{TOTAL - 1}/{TOTAL}",
    ]
    assert bytes(server.data) == video.read_bytes() and not server.problems
    sent = initiate.calls.last.request
    assert sent.url.params["uploadType"] == "resumable"
    assert sent.url.params["part"] == "snippet,status"
    assert sent.headers["x-upload-content-length"] == str(TOTAL)
    assert sent.headers["x-upload-content-type"] == "video/mp4"
    assert sent.headers["authorization"] == "Bearer ya29.test-youtube-secret-token"
    assert json.loads(sent.content) == {
        "snippet": {
            "title": "A title",
            "description": "About it",
            "tags": ["ai", "deep learning"],
            "categoryId": "22",
        },
        "status": {
            "privacyStatus": "private",
            "selfDeclaredMadeForKids": False,
            "containsSyntheticMedia": True,  # the AI-generated disclosure
        },
    }
    assert ("youtube:videos.insert:default", Limit(100, 86_400), 1) in limiter.acquired


async def test_interrupted_upload_resumes_from_the_reported_range(
    ctx: SkillContext, router, tmp_path, make_video, fake_sleep
):
    video = make_video(tmp_path / "v.mp4", TOTAL)
    server = ResumableServer(TOTAL, faults={1: "drop"})
    initiate, _ = _routes(router, server)

    out = await invoke_json(publish_content, _request(video), ctx)

    assert out.success, out.error
    half = CHUNK + CHUNK // 2
    assert server.ranges == [
        f"bytes 0-{CHUNK - 1}/{TOTAL}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{TOTAL}",  # dropped halfway
        f"bytes */{TOTAL}",  # where are we? -> Range: bytes=0-{half-1}
        f"bytes {half}-{half + CHUNK - 1}/{TOTAL}",
        f"bytes {half + CHUNK}-{TOTAL - 1}/{TOTAL}",
    ]
    assert bytes(server.data) == video.read_bytes() and not server.problems
    assert initiate.call_count == 1
    assert len(fake_sleep.calls) == 1


async def test_server_error_mid_upload_queries_status_and_resends(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", TOTAL)
    server = ResumableServer(TOTAL, faults={1: "503", 2: "timeout"})
    _routes(router, server)

    out = await invoke_json(publish_content, _request(video), ctx)

    assert out.success, out.error
    assert server.ranges[1:5] == [
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{TOTAL}",
        f"bytes */{TOTAL}",
        f"bytes */{TOTAL}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{TOTAL}",
    ]
    assert bytes(server.data) == video.read_bytes() and not server.problems


async def test_lost_answer_to_last_chunk_is_settled_by_the_status_query(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", TOTAL)
    server = ResumableServer(TOTAL, faults={3: "lost"})
    initiate, _ = _routes(router, server)

    out = await invoke_json(publish_content, _request(video), ctx)

    assert out.success and out.post_id == "Ks-_Mh1QhMc"
    assert server.ranges[-1] == f"bytes */{TOTAL}"
    assert initiate.call_count == 1


async def test_last_chunk_timeout_without_answer_is_outcome_unknown_and_not_retried(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", TOTAL)
    server = ResumableServer(TOTAL, faults={3: "lost", 4: "timeout", 5: "timeout", 6: "timeout"})
    initiate, _ = _routes(router, server)

    out = await invoke_json(publish_content, _request(video), ctx)

    assert not out.success
    assert out.error.code == "OUTCOME_UNKNOWN"
    assert out.error.category == "permanent" and out.error.retryable is False
    assert out.error.details["publication_id"] == "pub-yt-1"
    assert initiate.call_count == 1  # the @skill wrapper did not publish again
    final = f"bytes {3 * CHUNK}-{TOTAL - 1}/{TOTAL}"
    assert server.ranges.count(final) == 1
    assert server.ranges[4:] == [f"bytes */{TOTAL}", f"bytes */{TOTAL}"]


async def test_session_gone_before_the_last_chunk_is_transient(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", TOTAL)
    initiate = router.post(url__startswith=UPLOAD).mock(
        return_value=httpx.Response(200, headers={"Location": SESSION})
    )
    router.put(url__startswith=UPLOAD).mock(return_value=httpx.Response(404))
    out = await invoke_json(publish_content, _request(video), ctx)
    assert not out.success and out.error.code == "UPLOAD_SESSION_EXPIRED"
    assert out.error.retryable is True
    assert initiate.call_count == 4  # nothing existed: the wrapper may start again


@pytest.mark.parametrize(
    ("status", "body", "code", "category", "calls"),
    [
        (403, QUOTA, "QUOTA_EXCEEDED", "transient", 4),
        (
            400,
            google_error(
                400,
                "uploadLimitExceeded",
                "The user has exceeded the number of videos they may upload.",
                domain="youtube.video",
            ),
            "UPLOAD_LIMIT_EXCEEDED",
            "transient",
            4,
        ),
        (
            403,
            google_error(403, "rateLimitExceeded", "Rate limit exceeded", domain="usageLimits"),
            "RATE_LIMITED",
            "transient",
            4,
        ),
        (
            500,
            google_error(500, "backendError", "Backend Error", domain="global"),
            "PLATFORM_UNAVAILABLE",
            "transient",
            4,
        ),
        (401, AUTH, "AUTH_INVALID", "permanent", 1),
        (
            400,
            google_error(
                400,
                "invalidTitle",
                "The request metadata specifies an invalid video title.",
                domain="youtube.video",
            ),
            "INVALID_REQUEST",
            "validation",
            1,
        ),
        (
            403,
            google_error(403, "forbidden", "Forbidden", domain="youtube.video"),
            "FORBIDDEN",
            "permanent",
            1,
        ),
    ],
)
async def test_error_answers_map_to_categories(
    ctx: SkillContext, router, tmp_path, make_video, status, body, code, category, calls
):
    video = make_video(tmp_path / "v.mp4", 1000)
    initiate = router.post(url__startswith=UPLOAD).mock(
        return_value=httpx.Response(status, json=body)
    )
    out = await invoke_json(publish_content, _request(video), ctx)
    assert not out.success
    assert (out.error.code, out.error.category) == (code, category)
    assert initiate.call_count == calls


async def test_quota_exceeded_waits_for_the_reset_outside_the_call(
    ctx: SkillContext, router, tmp_path, make_video, fake_sleep, limiter
):
    video = make_video(tmp_path / "v.mp4", 1000)
    router.post(url__startswith=UPLOAD).mock(return_value=httpx.Response(403, json=QUOTA))
    out = await invoke_json(publish_content, _request(video), ctx)
    assert out.error.code == "QUOTA_EXCEEDED" and out.error.retryable
    assert 0 < out.error.details["retry_after_s"] <= 86_400 + 3600
    assert all(wait < 1 for wait in fake_sleep.calls)  # not hours inside the skill call
    assert limiter.held and limiter.held[0][0] == "youtube:units:default"
    assert limiter.held[0][1] == pytest.approx(out.error.details["retry_after_s"], abs=5)


async def test_revoked_token_is_permanent_and_secret_free(
    ctx: SkillContext, router, tmp_path, make_video, no_secrets, caplog
):
    video = make_video(tmp_path / "v.mp4", 1000)
    router.post(url__startswith=UPLOAD).mock(return_value=httpx.Response(401, json=AUTH))
    with caplog.at_level(logging.DEBUG):
        out = await invoke_json(publish_content, _request(video), ctx)
    assert out.error.code == "AUTH_INVALID" and out.error.category == "permanent"
    no_secrets(out.model_dump_json(), caplog.text, repr(ctx.settings.publish))


async def test_scheduled_upload_sets_publish_at(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 1000)
    server = ResumableServer(1000)
    initiate, _ = _routes(router, server)
    out = await invoke_json(
        publish_content,
        _request(
            video, privacy="public", made_for_kids=True, scheduled_at="2099-05-01T12:00:00+02:00"
        ),
        ctx,
    )
    assert out.success and out.status == "scheduled" and out.published_at is None
    status = json.loads(initiate.calls.last.request.content)["status"]
    assert status == {
        "privacyStatus": "private",
        "selfDeclaredMadeForKids": True,
        "containsSyntheticMedia": True,
        "publishAt": "2099-05-01T10:00:00Z",
    }
    assert server.ranges == ["bytes 0-999/1000"]


async def test_platform_limits_are_checked_before_any_request(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 1000)
    initiate = router.post(url__startswith=UPLOAD)
    out = await invoke_json(publish_content, _request(video, title="x" * 101), ctx)
    assert out.error.code == "INVALID_FOR_PLATFORM" and out.error.category == "validation"
    out = await invoke_json(
        publish_content, _request(video, scheduled_at="2099-01-01T00:00:00Z"), ctx
    )
    assert out.error.code == "INVALID_FOR_PLATFORM"  # scheduling needs privacy public
    out = await invoke_json(publish_content, _request(tmp_path / "missing.mp4"), ctx)
    assert out.error.code == "VIDEO_NOT_FOUND"
    assert initiate.call_count == 0


async def test_engagement_from_statistics(ctx: SkillContext, router):
    route = router.get(f"{API}/videos").mock(
        return_value=httpx.Response(
            200,
            json={
                "kind": "youtube#videoListResponse",
                "etag": "x",
                "items": [
                    {
                        "kind": "youtube#video",
                        "etag": "y",
                        "id": "Ks-_Mh1QhMc",
                        "statistics": {
                            "viewCount": "1000",
                            "likeCount": "50",
                            "favoriteCount": "0",
                            "commentCount": "10",
                        },
                    }
                ],
                "pageInfo": {"totalResults": 1, "resultsPerPage": 1},
            },
        )
    )
    out = await invoke_json(
        fetch_engagement, {"platform": "youtube", "post_id": "Ks-_Mh1QhMc"}, ctx
    )
    assert out.success, out.error
    assert (out.views, out.likes, out.comments, out.shares) == (1000, 50, 10, 0)
    assert out.engagement_rate == 0.06 and out.recorded_at is not None
    params = route.calls.last.request.url.params
    assert (params["part"], params["id"]) == ("statistics", "Ks-_Mh1QhMc")

    router.get(f"{API}/videos").mock(
        return_value=httpx.Response(
            200,
            json={
                "kind": "youtube#videoListResponse",
                "items": [],
                "pageInfo": {"totalResults": 0, "resultsPerPage": 0},
            },
        )
    )
    gone = await invoke_json(fetch_engagement, {"platform": "youtube", "post_id": "deleted1"}, ctx)
    assert not gone.success and gone.error.code == "POST_NOT_FOUND"


async def test_find_publication_among_the_channel_uploads(ctx: SkillContext, router):
    router.get(f"{API}/channels").mock(
        return_value=httpx.Response(
            200,
            json={
                "kind": "youtube#channelListResponse",
                "items": [
                    {
                        "kind": "youtube#channel",
                        "id": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
                        "contentDetails": {
                            "relatedPlaylists": {"likes": "", "uploads": "UU_x5XG1OV2P6uZZ5FSM9Ttw"}
                        },
                    }
                ],
            },
        )
    )
    items = router.get(f"{API}/playlistItems").mock(
        return_value=httpx.Response(
            200,
            json={
                "kind": "youtube#playlistItemListResponse",
                "items": [
                    {
                        "kind": "youtube#playlistItem",
                        "id": "a",
                        "snippet": {
                            "publishedAt": "2026-11-25T16:00:00Z",
                            "title": "Other video",
                            "resourceId": {"kind": "youtube#video", "videoId": "OTHER000001"},
                        },
                    },
                    {
                        "kind": "youtube#playlistItem",
                        "id": "b",
                        "snippet": {
                            "publishedAt": "2026-11-25T16:40:00Z",
                            "title": "A title",
                            "resourceId": {"kind": "youtube#video", "videoId": "Ks-_Mh1QhMc"},
                        },
                    },
                ],
            },
        )
    )
    found = await invoke_json(
        find_publication,
        {"platform": "youtube", "publication_id": "pub-yt-1", "title": "A title"},
        ctx,
    )
    assert found.success and found.found and found.post_id == "Ks-_Mh1QhMc"
    assert items.calls.last.request.url.params["playlistId"] == "UU_x5XG1OV2P6uZZ5FSM9Ttw"
    missing = await invoke_json(
        find_publication,
        {"platform": "youtube", "publication_id": "pub-yt-2", "title": "Never uploaded"},
        ctx,
    )
    assert missing.success and missing.found is False
