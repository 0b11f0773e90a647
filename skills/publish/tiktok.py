"""TikTok Content Posting API publisher (direct post or inbox upload, FILE_UPLOAD source).

Flow (developers.tiktok.com/doc/content-posting-api-reference-direct-post):
`POST /v2/post/publish/creator_info/query/` (direct post: privacy options and interaction
settings, which are honoured), `POST /v2/post/publish/video/init/` (or
`/v2/post/publish/inbox/video/init/`) with `source_info` FILE_UPLOAD, `video_size`,
`chunk_size`, `total_chunk_count`, then the chunks PUT in order to `upload_url` with
`Content-Range` and `Content-Type: video/mp4`, then `POST /v2/post/publish/status/fetch/`
until PUBLISH_COMPLETE / SEND_TO_USER_INBOX / FAILED (bounded).

Chunks (media transfer guide): each 5-64 MB except the last, which takes the trailing bytes
(up to 128 MB); total_chunk_count = floor(video_size / chunk_size); videos under 5 MB go whole
(chunk_size = video_size); 1 to 1000 chunks.

Where the post is created: the init only opens an upload (it expires unused), so a lost init
answer is transient. The last chunk completes the upload and starts the post: if its answer is
lost the error is OUTCOME_UNKNOWN with the publish_id (reconcile with status/fetch). After the
last chunk is accepted nothing raises a transient error any more: polls that fail or run out
return status "processing" with the publish_id.

Rate limits per user token: creator_info 20/min, init 6/min, status/fetch 30/min,
video/query and video/list 600/min (sliding minute), through ctx.limiter when present.
Errors: access_token_invalid, scope_not_authorized, scope_permission_missed -> permanent;
spam_risk_* -> permanent (refused content or a posting cap a person should look at);
rate_limit_exceeded -> transient; reached_active_user_cap -> transient (daily app cap);
unaudited_client_can_only_post_to_private_accounts -> permanent; invalid_params,
privacy_level_option_mismatch, invalid_file_upload -> validation; internal_error/5xx -> transient.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from core.errors import OperationError, PermanentError, TransientError, ValidationError
from skills.context import SkillContext
from skills.http import json_object, retry_after_seconds, send
from skills.publish.errors import acquire, authorization, committing, outcome_unknown, wait_error
from skills.publish.media import read_range, video_mime, video_size
from skills.publish.models import (
    EngagementCounts,
    PublishContentInput,
    PublishResult,
    ReconcileQuery,
)
from skills.publish.text import compose_text
from skills.ratelimit import Limit
from skills.settings.publish import MIB, PublishSettings

log = logging.getLogger("chimera.skills.publish.tiktok")

PLATFORM = "tiktok"
CREATOR_INFO_LIMIT = Limit(calls=20, per_seconds=60)
INIT_LIMIT = Limit(calls=6, per_seconds=60)
STATUS_LIMIT = Limit(calls=30, per_seconds=60)
QUERY_LIMIT = Limit(calls=600, per_seconds=60)
CAPTION_LIMIT = 2200
_UPLOAD_TYPES = {"video/mp4", "video/quicktime", "video/webm"}

#: Our privacy -> TikTok privacy levels, in order of preference.
PRIVACY_LEVELS: dict[str, tuple[str, ...]] = {
    "public": ("PUBLIC_TO_EVERYONE",),
    # TikTok has no "unlisted": the nearest is an audience the creator chose.
    "unlisted": ("MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR"),
    "private": ("SELF_ONLY",),
}


@dataclass(frozen=True)
class ChunkLimits:
    """TikTok's documented chunk rules (tests may pass smaller numbers)."""

    min_chunk: int = 5 * MIB
    max_chunk: int = 64 * MIB
    max_final: int = 128 * MIB
    max_count: int = 1000


@dataclass(frozen=True)
class ChunkPlan:
    """How a file is cut: the declared chunk_size, the count, and each byte range."""

    video_size: int
    chunk_size: int
    total_chunk_count: int

    def ranges(self) -> list[tuple[int, int]]:
        """Inclusive (first, last) byte of every chunk; the last takes the trailing bytes."""
        out = []
        for index in range(self.total_chunk_count):
            first = index * self.chunk_size
            last = (
                self.video_size if index == self.total_chunk_count - 1 else first + self.chunk_size
            ) - 1
            out.append((first, last))
        return out


def plan_chunks(video_size: int, chunk_size: int, limits: ChunkLimits = ChunkLimits()) -> ChunkPlan:
    """Cut `video_size` bytes per TikTok's media transfer guide."""
    if video_size <= 0:
        raise ValidationError("video file is empty", code="VIDEO_EMPTY")
    if video_size < limits.min_chunk:
        return ChunkPlan(video_size, video_size, 1)
    chunk = min(max(chunk_size, limits.min_chunk), limits.max_chunk)
    count = video_size // chunk
    if count == 0:
        return ChunkPlan(video_size, video_size, 1)
    if count > limits.max_count:
        chunk = -(-video_size // limits.max_count)
        if chunk > limits.max_chunk:
            raise ValidationError(
                "video is too large for TikTok's chunked upload",
                code="VIDEO_TOO_LARGE",
                details={"video_size": video_size},
            )
        count = video_size // chunk
    final = video_size - (count - 1) * chunk
    if final > limits.max_final:  # cannot happen while chunk <= max_final / 2
        raise ValidationError("video cannot be cut into TikTok chunks", code="VIDEO_TOO_LARGE")
    return ChunkPlan(video_size, chunk, count)


def compose_caption(request: PublishContentInput, limit: int = CAPTION_LIMIT) -> str:
    """Title, then description and hashtags as far as they fit in TikTok's caption."""
    return compose_text(
        request.title,
        request.description,
        request.tags,
        limit=limit,
        length=_utf16_length,
        platform=PLATFORM,
    )


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # TikTok counts UTF-16 runes


class TikTokPublisher:
    """Publishes with TikTok's Content Posting API (user access token from the settings)."""

    platform = PLATFORM

    def __init__(
        self,
        ctx: SkillContext,
        settings: PublishSettings,
        *,
        chunk_size: int | None = None,
        limits: ChunkLimits = ChunkLimits(),
        account: str | None = None,
    ) -> None:
        self.account = account
        self.ctx = ctx
        self.settings = settings
        self.chunk_size = chunk_size or settings.tiktok_chunk_size
        self.limits = limits

    # --- Helpers ------------------------------------------------------------------------------
    async def _auth(self) -> dict[str, str]:
        return {
            **await authorization(
                self.ctx,
                PLATFORM,
                self.account,
                self.settings.tiktok_access_token,
                "CHIMERA_TIKTOK_ACCESS_TOKEN",
            ),
            "Content-Type": "application/json; charset=UTF-8",
        }

    def _bucket(self, operation: str) -> str:
        return f"tiktok:{operation}:{self.settings.tiktok_account}"

    async def error_for(self, response: httpx.Response, step: str) -> OperationError:
        """The chimera error for a TikTok error answer (`error.code` other than "ok")."""
        body = json_object(response)
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        code = str(error.get("code") or "")
        message = str(error.get("message") or response.reason_phrase or "error")[:300]
        status = response.status_code
        details: dict[str, Any] = {
            "platform": PLATFORM,
            "step": step,
            "status": status,
            "tiktok_code": code,
            "log_id": error.get("log_id"),
        }
        text = f"tiktok {step}: {code or status}: {message}"
        if code == "access_token_invalid" or (status == 401 and not code.startswith("scope")):
            return PermanentError(text, code="AUTH_INVALID", details=details)
        if code in ("scope_not_authorized", "scope_permission_missed"):
            return PermanentError(text, code="SCOPE_NOT_AUTHORIZED", details=details)
        if code == "rate_limit_exceeded" or status == 429:
            wait = retry_after_seconds(response)
            return await wait_error(
                self.ctx,
                platform=PLATFORM,
                step=step,
                code="RATE_LIMITED",
                message=text,
                wait_s=60.0 if wait is None else wait,  # limits are per sliding minute
                max_inline_wait_s=self.settings.max_inline_wait_s,
                bucket=self._bucket(step),
                details=details,
            )
        if code.startswith("spam_risk"):
            return PermanentError(text, code="SPAM_REFUSED", details=details)
        if code == "reached_active_user_cap":
            return TransientError(text, code="USAGE_CAPPED", details=details)
        if code == "unaudited_client_can_only_post_to_private_accounts":
            return PermanentError(text, code="APP_NOT_AUDITED", details=details)
        if (
            code
            in (
                "invalid_params",
                "invalid_file_upload",
                "privacy_level_option_mismatch",
                "file_format_check_failed",
                "duration_check_failed",
                "frame_rate_check_failed",
                "picture_size_check_failed",
            )
            or status == 400
        ):
            return ValidationError(text, code="INVALID_REQUEST", details=details)
        if code == "internal_error" or status >= 500:
            return TransientError(text, code="PLATFORM_UNAVAILABLE", details=details)
        return PermanentError(text, code="PLATFORM_REFUSED", details=details)

    async def _call(
        self,
        path: str,
        *,
        step: str,
        bucket: str,
        limit: Limit,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        await acquire(self.ctx, self._bucket(bucket), limit)
        response = await send(
            self.ctx.http,
            "POST",
            f"{self.settings.tiktok_api_url}{path}",
            platform=PLATFORM,
            step=step,
            headers=await self._auth(),
            json=json,
            params=params,
        )
        body = json_object(response)
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        if response.status_code != 200 or error.get("code", "ok") != "ok":
            raise await self.error_for(response, step)
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    # --- Publisher protocol -------------------------------------------------------------------
    async def publish(self, request: PublishContentInput) -> PublishResult:
        if request.scheduled_at is not None:
            raise ValidationError(
                "tiktok: the Content Posting API cannot schedule; publish at the time instead",
                code="SCHEDULING_UNSUPPORTED",
                details={"platform": PLATFORM},
            )
        size = video_size(request.video_path)
        plan = plan_chunks(size, self.chunk_size, self.limits)
        caption = compose_caption(request)
        source_info = {
            "source": "FILE_UPLOAD",
            "video_size": size,
            "chunk_size": plan.chunk_size,
            "total_chunk_count": plan.total_chunk_count,
        }
        username: str | None = None
        if request.tiktok_mode == "direct_post":
            creator = await self._call(
                "/v2/post/publish/creator_info/query/",
                step="creator_info",
                bucket="creator_info",
                limit=CREATOR_INFO_LIMIT,
            )
            username = creator.get("creator_username") or None
            level = self._privacy_level(request, creator)
            body: dict[str, Any] = {
                "post_info": {
                    "title": caption,
                    "privacy_level": level,
                    "disable_duet": bool(creator.get("duet_disabled", False)),
                    "disable_comment": bool(creator.get("comment_disabled", False)),
                    "disable_stitch": bool(creator.get("stitch_disabled", False)),
                    # TikTok's AI-generated content label.
                    "is_aigc": request.ai_generated,
                },
                "source_info": source_info,
            }
            path = "/v2/post/publish/video/init/"
        else:
            body = {"source_info": source_info}
            path = "/v2/post/publish/inbox/video/init/"
        data = await self._call(path, step="init", bucket="init", limit=INIT_LIMIT, json=body)
        publish_id = data.get("publish_id")
        upload_url = data.get("upload_url")
        if not publish_id or not upload_url:
            raise TransientError(
                "tiktok init: answer without publish_id/upload_url",
                code="PLATFORM_UNAVAILABLE",
                details={"platform": PLATFORM},
            )
        await self._upload(str(upload_url), request, plan, str(publish_id))
        return await self._poll(str(publish_id), request, username)

    async def fetch_engagement(self, post_id: str) -> EngagementCounts:
        data = await self._call(
            "/v2/video/query/",
            step="video_query",
            bucket="video_query",
            limit=QUERY_LIMIT,
            params={"fields": "id,view_count,like_count,comment_count,share_count"},
            json={"filters": {"video_ids": [post_id]}},
        )
        videos = data.get("videos") or []
        if not videos:
            raise PermanentError(
                f"tiktok: no video {post_id}",
                code="POST_NOT_FOUND",
                details={"platform": PLATFORM, "post_id": post_id},
            )
        video = videos[0]
        return EngagementCounts(
            views=int(video.get("view_count") or 0),
            likes=int(video.get("like_count") or 0),
            comments=int(video.get("comment_count") or 0),
            shares=int(video.get("share_count") or 0),
        )

    async def find_existing(self, query: ReconcileQuery) -> PublishResult | None:
        if query.platform_ref:
            data = await self._status(query.platform_ref)
            status = data.get("status")
            if status == "FAILED":
                return None
            result = self._result_of(data, query.platform_ref, None)
            return PublishResult(
                result.post_id,
                result.url,
                result.status,
                result.platform_ref,
                result.published_at,
                reused=True,
            )
        # Without a publish_id only the creator's public videos can be searched (video.list).
        data = await self._call(
            "/v2/video/list/",
            step="video_list",
            bucket="video_list",
            limit=QUERY_LIMIT,
            params={"fields": "id,title,video_description,create_time,share_url"},
            json={"max_count": 20},
        )
        for video in data.get("videos") or []:
            text = str(video.get("video_description") or video.get("title") or "")
            if text.strip().startswith(query.title.strip()) and video.get("id"):
                created = video.get("create_time")
                return PublishResult(
                    post_id=str(video["id"]),
                    url=video.get("share_url"),
                    status="published",
                    published_at=(
                        datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
                    ),
                    reused=True,
                )
        # video/list shows public videos only (and only after moderation): absence proves
        # nothing, and answering "not found" could make the caller post twice.
        raise PermanentError(
            "tiktok: without a publish_id the Content Posting API cannot confirm that a post "
            "does not exist (only public videos are listed); check by hand",
            code="RECONCILE_UNSUPPORTED",
            details={"platform": PLATFORM, "publication_id": query.publication_id},
        )

    # --- Steps --------------------------------------------------------------------------------
    def _privacy_level(self, request: PublishContentInput, creator: dict[str, Any]) -> str:
        options = [str(o) for o in creator.get("privacy_level_options") or []]
        for level in PRIVACY_LEVELS[request.privacy]:
            if level in options:
                return level
        raise ValidationError(
            f"tiktok: privacy {request.privacy!r} is not available to this creator",
            code="PRIVACY_LEVEL_UNAVAILABLE",
            details={"platform": PLATFORM, "privacy_level_options": options},
        )

    async def _upload(
        self, upload_url: str, request: PublishContentInput, plan: ChunkPlan, publish_id: str
    ) -> None:
        mime = video_mime(request.video_path)
        mime = mime if mime in _UPLOAD_TYPES else "video/mp4"
        ranges = plan.ranges()
        for index, (first, last) in enumerate(ranges):
            is_final = index == len(ranges) - 1
            step = "upload last chunk" if is_final else "upload"
            data = await read_range(request.video_path, first, last - first + 1)
            headers = {
                "Content-Type": mime,
                "Content-Length": str(len(data)),
                "Content-Range": f"bytes {first}-{last}/{plan.video_size}",
            }
            attempts = 0
            while True:
                problem: str
                try:
                    # The last chunk starts the post: once it may have arrived, the outcome is
                    # unknown (raised by send); a chunk that never left is retried.
                    response = await send(
                        self.ctx.http,
                        "PUT",
                        upload_url,
                        platform=PLATFORM,
                        step=step,
                        outcome_unknown=(
                            committing(
                                PLATFORM, step, request.publication_id, platform_ref=publish_id
                            )
                            if is_final
                            else None
                        ),
                        content=data,
                        headers=headers,
                    )
                except TransientError as exc:
                    problem = exc.code
                else:
                    if 200 <= response.status_code < 300:
                        break
                    if response.status_code >= 500 and is_final:
                        raise outcome_unknown(
                            PLATFORM,
                            "upload last chunk",
                            request.publication_id,
                            reason=f"HTTP {response.status_code}",
                            platform_ref=publish_id,
                        )
                    if response.status_code < 500 and response.status_code != 429:
                        raise await self.error_for(response, "upload")
                    problem = f"HTTP {response.status_code}"
                attempts += 1
                if attempts >= self.settings.upload_max_attempts:
                    # An upload missing chunks is never posted: the publish may run again.
                    raise TransientError(
                        f"tiktok upload interrupted ({problem}); nothing was published",
                        code="UPLOAD_INTERRUPTED",
                        details={"platform": PLATFORM, "chunk": index, "publish_id": publish_id},
                    )
                await self.ctx.sleep(self.ctx.retry.delay(attempts))

    async def _status(self, publish_id: str) -> dict[str, Any]:
        return await self._call(
            "/v2/post/publish/status/fetch/",
            step="status",
            bucket="status",
            limit=STATUS_LIMIT,
            json={"publish_id": publish_id},
        )

    def _result_of(
        self, data: dict[str, Any], publish_id: str, username: str | None
    ) -> PublishResult:
        status = data.get("status")
        if status == "PUBLISH_COMPLETE":
            ids = data.get("publicaly_available_post_id") or []
            post_id = str(ids[0]) if ids else None
            url = (
                f"https://www.tiktok.com/@{username}/video/{post_id}"
                if post_id and username
                else None
            )
            return PublishResult(
                post_id, url, "published", platform_ref=publish_id, published_at=datetime.now(UTC)
            )
        if status == "SEND_TO_USER_INBOX":
            return PublishResult(None, None, "sent_to_inbox", platform_ref=publish_id)
        return PublishResult(None, None, "processing", platform_ref=publish_id)

    async def _poll(
        self, publish_id: str, request: PublishContentInput, username: str | None
    ) -> PublishResult:
        """Poll status/fetch; the upload is complete, so nothing here may look transient."""
        for poll in range(self.settings.tiktok_max_polls):
            if poll:
                await self.ctx.sleep(self.settings.tiktok_poll_interval_s)
            try:
                data = await self._status(publish_id)
            except TransientError as exc:
                log.warning(
                    "tiktok status poll for %s failed (%s); polling on",
                    request.publication_id,
                    exc.code,
                )
                continue
            except OperationError as exc:
                log.warning(
                    "tiktok status poll for %s failed (%s); reporting processing",
                    request.publication_id,
                    exc.code,
                )
                break
            status = data.get("status")
            if status == "FAILED":
                reason = str(data.get("fail_reason") or "unknown")
                raise PermanentError(
                    f"tiktok: the post failed ({reason})",
                    code="PUBLISH_FAILED",
                    details={"platform": PLATFORM, "fail_reason": reason, "publish_id": publish_id},
                )
            if status == "PUBLISH_COMPLETE" or status == "SEND_TO_USER_INBOX":
                return self._result_of(data, publish_id, username)
        return PublishResult(None, None, "processing", platform_ref=publish_id)
