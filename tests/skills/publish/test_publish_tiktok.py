"""TikTok Content Posting API: creator info, init, chunked PUTs, status polling, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from skills.base import invoke_json
from skills.context import SkillContext
from skills.publish import fetch_engagement, find_publication, publish_content
from skills.publish.skill import PUBLISHERS
from skills.publish.tiktok import ChunkLimits, TikTokPublisher, plan_chunks
from skills.ratelimit import Limit
from skills.settings.publish import MIB

API = "https://open.tiktokapis.com"
CREATOR = f"{API}/v2/post/publish/creator_info/query/"
INIT = f"{API}/v2/post/publish/video/init/"
INBOX_INIT = f"{API}/v2/post/publish/inbox/video/init/"
STATUS = f"{API}/v2/post/publish/status/fetch/"
UPLOAD_URL = "https://open-upload.tiktokapis.com/video/?upload_id=67890&upload_token=Xza123"
PUBLISH_ID = "v_pub_file~v2-1.7291238456982145281"
POST_ID = 7291238456982145281
SMALL = ChunkLimits(min_chunk=1000, max_chunk=64_000, max_final=128_000, max_count=1000)


def ok(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": data,
        "error": {"code": "ok", "message": "", "log_id": "202611251640442CB9319E1FB30C1073F3"},
    }


def err(code: str, message: str) -> dict[str, Any]:
    return {
        "data": {},
        "error": {"code": code, "message": message, "log_id": "20261125164044D7A5B0E2AF0C1"},
    }


CREATOR_INFO = ok(
    {
        "creator_avatar_url": "https://lf16-tt4d.tiktokcdn.com/obj/tiktok-open-platform/avatar.jpeg",
        "creator_username": "chimera.studio",
        "creator_nickname": "Chimera",
        "privacy_level_options": ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
        "comment_disabled": True,
        "duet_disabled": False,
        "stitch_disabled": True,
        "max_video_post_duration_sec": 600,
    }
)
INIT_OK = ok({"publish_id": PUBLISH_ID, "upload_url": UPLOAD_URL})
PROCESSING = ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 3500})
COMPLETE = ok(
    {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [POST_ID], "uploaded_bytes": 3500}
)


class UploadServer:
    """The upload_url: checks order and ranges; 206 per chunk, 201 once complete."""

    def __init__(self, total: int, faults: dict[int, str] | None = None) -> None:
        self.total = total
        self.faults = faults or {}
        self.received = bytearray()
        self.calls: list[tuple[str, str, int]] = []
        self.problems: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        content_range = request.headers["content-range"]
        self.calls.append(
            (content_range, request.headers["content-type"], int(request.headers["content-length"]))
        )
        if "authorization" in request.headers:
            self.problems.append("token sent to the upload URL")
        fault = self.faults.get(len(self.calls) - 1)
        if fault == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if fault == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if fault == "500":
            return httpx.Response(500)
        first = int(content_range.split()[1].split("-")[0])
        if first != len(self.received):
            self.problems.append(f"out of order: {content_range}")
        self.received += request.content
        return httpx.Response(201 if len(self.received) == self.total else 206)


@pytest.fixture(autouse=True)
def _restore_publishers() -> Iterator[None]:
    saved = dict(PUBLISHERS)
    yield
    PUBLISHERS.clear()
    PUBLISHERS.update(saved)


def small_chunks(ctx: SkillContext, **overrides: Any) -> SkillContext:
    """`ctx`, with TikTok publishing in 1000-byte chunks (and settings overridden)."""
    settings = ctx.settings.publish.model_copy(update=overrides)
    PUBLISHERS["tiktok"] = lambda c, a: TikTokPublisher(
        c, settings, chunk_size=1000, limits=SMALL, account=a
    )
    return ctx


def _request(video: Path, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "tiktok",
        "video_path": str(video),
        "title": "A title",
        "description": "About it",
        "tags": ["ai", "deep learning"],
        "privacy": "private",
        "publication_id": "pub-tt-1",
        **extra,
    }


def _mock_flow(
    router: respx.MockRouter, server: UploadServer, statuses: list[dict[str, Any]]
) -> dict[str, respx.Route]:
    return {
        "creator": router.post(CREATOR).mock(return_value=httpx.Response(200, json=CREATOR_INFO)),
        "init": router.post(INIT).mock(return_value=httpx.Response(200, json=INIT_OK)),
        "upload": router.put(url__startswith="https://open-upload.tiktokapis.com/video/").mock(
            side_effect=server
        ),
        "status": router.post(STATUS).mock(
            side_effect=[httpx.Response(200, json=s) for s in statuses]
        ),
    }


def test_chunk_plan_follows_the_media_transfer_guide():
    # Production limits: 5 MB minimum, 64 MB maximum, trailing bytes in the last chunk.
    small = plan_chunks(4 * MIB, 10 * MIB)
    assert (small.chunk_size, small.total_chunk_count) == (4 * MIB, 1)  # < 5 MB: whole
    whole = plan_chunks(12 * MIB, 10 * MIB)
    assert (whole.chunk_size, whole.total_chunk_count) == (10 * MIB, 1)
    assert whole.ranges() == [(0, 12 * MIB - 1)]
    three = plan_chunks(35 * MIB + 7, 10 * MIB)
    assert (three.chunk_size, three.total_chunk_count) == (10 * MIB, 3)
    assert three.ranges() == [(0, 10 * MIB - 1), (10 * MIB, 20 * MIB - 1), (20 * MIB, 35 * MIB + 6)]
    clamped = plan_chunks(300 * MIB, 100 * MIB)
    assert (clamped.chunk_size, clamped.total_chunk_count) == (64 * MIB, 4)
    assert clamped.ranges()[-1] == (192 * MIB, 300 * MIB - 1)  # last chunk 108 MB <= 128 MB
    raised = plan_chunks(20_000 * MIB, 5 * MIB)  # would be 4000 chunks: at most 1000
    assert raised.total_chunk_count <= 1000 and raised.chunk_size == 20 * MIB
    assert plan_chunks(6 * MIB, 1).chunk_size == 5 * MIB  # below the minimum: raised to 5 MB


async def test_direct_post_uploads_chunks_in_order_and_polls(
    ctx: SkillContext, router, tmp_path, make_video, limiter, fake_sleep
):
    video = make_video(tmp_path / "v.mp4", 3500)
    server = UploadServer(3500)
    routes = _mock_flow(router, server, [PROCESSING, PROCESSING, COMPLETE])

    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))

    assert out.success, out.error
    assert out.post_id == str(POST_ID) and out.status == "published"
    assert out.url == f"https://www.tiktok.com/@chimera.studio/video/{POST_ID}"
    assert out.platform_ref == PUBLISH_ID
    init = json.loads(routes["init"].calls.last.request.content)
    assert init["source_info"] == {
        "source": "FILE_UPLOAD",
        "video_size": 3500,
        "chunk_size": 1000,
        "total_chunk_count": 3,
    }
    assert init["post_info"] == {
        "title": "A title\n\nAbout it\n\n#ai #DeepLearning",
        "privacy_level": "SELF_ONLY",
        "disable_duet": False,
        "disable_comment": True,
        "disable_stitch": True,
        "is_aigc": True,  # TikTok's AI-generated content label
    }
    assert (
        routes["init"].calls.last.request.headers["authorization"]
        == "Bearer act.test-tiktok-secret-token"
    )
    assert server.calls == [
        ("bytes 0-999/3500", "video/mp4", 1000),
        ("bytes 1000-1999/3500", "video/mp4", 1000),
        ("bytes 2000-3499/3500", "video/mp4", 1500),
    ]
    assert bytes(server.received) == video.read_bytes() and not server.problems
    assert routes["status"].call_count == 3
    assert [json.loads(c.request.content) for c in routes["status"].calls] == [
        {"publish_id": PUBLISH_ID}
    ] * 3
    assert fake_sleep.calls == [0.5, 0.5]
    buckets = {(bucket, limit) for bucket, limit, _ in limiter.acquired}
    assert buckets == {
        ("tiktok:creator_info:default", Limit(20, 60)),
        ("tiktok:init:default", Limit(6, 60)),
        ("tiktok:status:default", Limit(30, 60)),
    }


async def test_unavailable_privacy_level_is_refused_before_init(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 3500)
    routes = _mock_flow(router, UploadServer(3500), [])
    out = await invoke_json(publish_content, _request(video, privacy="public"), small_chunks(ctx))
    assert out.error.code == "PRIVACY_LEVEL_UNAVAILABLE" and out.error.category == "validation"
    assert out.error.details["privacy_level_options"] == [
        "FOLLOWER_OF_CREATOR",
        "MUTUAL_FOLLOW_FRIENDS",
        "SELF_ONLY",
    ]
    assert routes["init"].call_count == 0


async def test_unlisted_maps_to_the_nearest_offered_audience(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 3500)
    routes = _mock_flow(router, UploadServer(3500), [COMPLETE])
    out = await invoke_json(publish_content, _request(video, privacy="unlisted"), small_chunks(ctx))
    assert out.success, out.error
    assert (
        json.loads(routes["init"].calls.last.request.content)["post_info"]["privacy_level"]
        == "MUTUAL_FOLLOW_FRIENDS"
    )


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            403,
            err(
                "spam_risk_too_many_posts",
                "The daily post cap from the API is reached for the current user.",
            ),
            "SPAM_REFUSED",
        ),
        (
            403,
            err("spam_risk_user_banned_from_posting", "The user is banned from making new posts."),
            "SPAM_REFUSED",
        ),
        (
            403,
            err(
                "unaudited_client_can_only_post_to_private_accounts",
                "Unaudited clients can only post to a private account.",
            ),
            "APP_NOT_AUDITED",
        ),
        (
            401,
            err("access_token_invalid", "The access token is invalid or not found in the request."),
            "AUTH_INVALID",
        ),
        (
            401,
            err(
                "scope_not_authorized",
                "The user did not authorize the scope required for completing this request.",
            ),
            "SCOPE_NOT_AUTHORIZED",
        ),
        (400, err("invalid_params", "Invalid chunk_size."), "INVALID_REQUEST"),
    ],
)
async def test_refusals_at_init_are_not_retried(
    ctx: SkillContext, router, tmp_path, make_video, no_secrets, status, body, code
):
    video = make_video(tmp_path / "v.mp4", 3500)
    routes = _mock_flow(router, UploadServer(3500), [])
    routes["init"].mock(return_value=httpx.Response(status, json=body))
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert out.error.code == code and out.error.category in ("permanent", "validation")
    assert out.error.details["tiktok_code"] == body["error"]["code"]
    assert routes["init"].call_count == 1 and routes["upload"].call_count == 0
    no_secrets(out.model_dump_json())


async def test_invalid_token_at_creator_info_is_permanent(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 3500)
    routes = _mock_flow(router, UploadServer(3500), [])
    routes["creator"].mock(
        return_value=httpx.Response(
            401,
            json=err(
                "access_token_invalid", "The access token is invalid or not found in the request."
            ),
        )
    )
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert (out.error.code, out.error.category) == ("AUTH_INVALID", "permanent")
    assert routes["creator"].call_count == 1 and routes["init"].call_count == 0


async def test_rate_limited_init_waits_and_retries(
    ctx: SkillContext, router, tmp_path, make_video, limiter, fake_sleep
):
    video = make_video(tmp_path / "v.mp4", 3500)
    routes = _mock_flow(router, UploadServer(3500), [COMPLETE])
    routes["init"].mock(
        side_effect=[
            httpx.Response(
                429,
                json=err(
                    "rate_limit_exceeded", "API rate limit was exceeded. Please try again later."
                ),
            ),
            httpx.Response(200, json=INIT_OK),
        ]
    )
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert out.success, out.error
    assert routes["init"].call_count == 2
    assert ("tiktok:init:default", 60.0) in limiter.held
    assert 60.0 in fake_sleep.calls


async def test_final_chunk_timeout_is_outcome_unknown_and_not_retried(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 3500)
    server = UploadServer(3500, faults={2: "timeout"})
    routes = _mock_flow(router, server, [])
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert out.error.code == "OUTCOME_UNKNOWN" and out.error.retryable is False
    assert out.error.details["platform_ref"] == PUBLISH_ID
    assert routes["init"].call_count == 1  # no second post
    assert [c[0] for c in server.calls] == [
        "bytes 0-999/3500",
        "bytes 1000-1999/3500",
        "bytes 2000-3499/3500",
    ]
    assert routes["status"].call_count == 0


async def test_final_chunk_that_never_left_is_sent_again(
    ctx: SkillContext, router, tmp_path, make_video, fake_sleep
):
    video = make_video(tmp_path / "v.mp4", 3500)
    server = UploadServer(3500, faults={2: "refused"})
    routes = _mock_flow(router, server, [COMPLETE])
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert out.success, out.error  # a refused connection cannot have started the post
    assert [c[0] for c in server.calls][2:] == ["bytes 2000-3499/3500"] * 2
    assert routes["init"].call_count == 1 and not server.problems
    assert len(fake_sleep.calls) >= 1


async def test_middle_chunk_failure_is_retried_in_place(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 3500)
    server = UploadServer(3500, faults={1: "500", 2: "timeout"})
    routes = _mock_flow(router, server, [COMPLETE])
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert out.success, out.error
    assert [c[0] for c in server.calls] == [
        "bytes 0-999/3500",
        "bytes 1000-1999/3500",
        "bytes 1000-1999/3500",
        "bytes 1000-1999/3500",
        "bytes 2000-3499/3500",
    ]
    assert bytes(server.received) == video.read_bytes()
    assert routes["init"].call_count == 1


async def test_inbox_upload_skips_creator_info(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 800)  # below the minimum: one whole chunk
    server = UploadServer(800)
    routes = _mock_flow(router, server, [ok({"status": "SEND_TO_USER_INBOX"})])
    inbox = router.post(INBOX_INIT).mock(return_value=httpx.Response(200, json=INIT_OK))
    out = await invoke_json(
        publish_content, _request(video, tiktok_mode="inbox"), small_chunks(ctx)
    )
    assert out.success, out.error
    assert out.status == "sent_to_inbox" and out.post_id is None
    assert out.platform_ref == PUBLISH_ID
    assert json.loads(inbox.calls.last.request.content) == {
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": 800,
            "chunk_size": 800,
            "total_chunk_count": 1,
        }
    }
    assert routes["creator"].call_count == 0 and routes["init"].call_count == 0
    assert server.calls == [("bytes 0-799/800", "video/mp4", 800)]


async def test_failed_processing_is_permanent(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 3500)
    _mock_flow(
        router,
        UploadServer(3500),
        [PROCESSING, ok({"status": "FAILED", "fail_reason": "frame_rate_check_failed"})],
    )
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx))
    assert (out.error.code, out.error.category) == ("PUBLISH_FAILED", "permanent")
    assert out.error.details["fail_reason"] == "frame_rate_check_failed"


async def test_polling_is_bounded_and_reports_processing(
    ctx: SkillContext, router, tmp_path, make_video
):
    video = make_video(tmp_path / "v.mp4", 3500)
    routes = _mock_flow(router, UploadServer(3500), [PROCESSING] * 3)
    out = await invoke_json(publish_content, _request(video), small_chunks(ctx, tiktok_max_polls=3))
    assert out.success and out.status == "processing" and out.post_id is None
    assert out.platform_ref == PUBLISH_ID
    assert routes["status"].call_count == 3 and routes["init"].call_count == 1


async def test_scheduling_is_refused(ctx: SkillContext, router, tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", 3500)
    out = await invoke_json(
        publish_content, _request(video, scheduled_at="2099-01-01T00:00:00Z"), small_chunks(ctx)
    )
    assert out.error.code == "SCHEDULING_UNSUPPORTED" and out.error.category == "validation"


async def test_engagement_from_video_query(ctx: SkillContext, router):
    route = router.post(f"{API}/v2/video/query/").mock(
        return_value=httpx.Response(
            200,
            json=ok(
                {
                    "videos": [
                        {
                            "id": str(POST_ID),
                            "view_count": 2000,
                            "like_count": 150,
                            "comment_count": 30,
                            "share_count": 20,
                        }
                    ],
                    "cursor": 0,
                    "has_more": False,
                }
            ),
        )
    )
    out = await invoke_json(fetch_engagement, {"platform": "tiktok", "post_id": str(POST_ID)}, ctx)
    assert out.success, out.error
    assert (out.views, out.likes, out.comments, out.shares) == (2000, 150, 30, 20)
    assert out.engagement_rate == 0.1
    request = route.calls.last.request
    assert request.url.params["fields"] == "id,view_count,like_count,comment_count,share_count"
    assert json.loads(request.content) == {"filters": {"video_ids": [str(POST_ID)]}}


async def test_find_publication_by_publish_id_or_public_list(ctx: SkillContext, router):
    status = router.post(STATUS).mock(
        side_effect=[
            httpx.Response(200, json=COMPLETE),
            httpx.Response(200, json=ok({"status": "FAILED", "fail_reason": "internal"})),
        ]
    )
    query = {
        "platform": "tiktok",
        "publication_id": "pub-tt-1",
        "title": "A title",
        "platform_ref": PUBLISH_ID,
    }
    found = await invoke_json(find_publication, query, ctx)
    assert found.success and found.found and found.post_id == str(POST_ID)
    failed = await invoke_json(find_publication, query, ctx)
    assert failed.success and failed.found is False
    assert status.call_count == 2

    router.post(f"{API}/v2/video/list/").mock(
        return_value=httpx.Response(
            200,
            json=ok(
                {
                    "videos": [
                        {
                            "id": "7000000000000000001",
                            "title": "",
                            "create_time": 1764089000,
                            "video_description": "A title\n\nAbout it #ai",
                            "share_url": "https://www.tiktok.com/@chimera.studio/video/7000000000000000001",
                        }
                    ],
                    "cursor": 1764089000,
                    "has_more": False,
                }
            ),
        )
    )
    listed = await invoke_json(find_publication, {**query, "platform_ref": None}, ctx)
    assert listed.found and listed.post_id == "7000000000000000001"
    unknown = await invoke_json(
        find_publication, {**query, "platform_ref": None, "title": "Elsewhere"}, ctx
    )
    assert not unknown.success and unknown.error.code == "RECONCILE_UNSUPPORTED"
