"""X API v2 publisher ("twitter"): chunked media upload, then the post.

Flow (docs.x.com/x-api/media/quickstart/media-upload-chunked):
`POST /2/media/upload/initialize` (media_type, total_bytes, media_category tweet_video) -> id;
`POST /2/media/upload/{id}/append` (multipart: media, segment_index) per segment (<= 5 MB);
`POST /2/media/upload/{id}/finalize`; while processing_info.state is pending/in_progress,
`GET /2/media/upload?command=STATUS&media_id=..` after check_after_secs (bounded); then
`POST /2/tweets` with text and media.media_ids -> data.id; url https://x.com/i/web/status/{id}.

The create step is `POST /2/tweets`; it is sent once. If its answer is lost (timeout, dropped
connection, 5xx) the error is OUTCOME_UNKNOWN; reconciliation reads the user's recent posts
(`GET /2/users/me`, `GET /2/users/:id/tweets`) for one starting with the title. X accepts no
idempotency key. Everything before the post (media upload) is safe to redo.

Errors: 401 -> permanent; 429 / usage capped -> transient, waiting until `x-rate-limit-reset`
(or the 24-hour reset); 403 "You are not allowed to create a Tweet with duplicate content" ->
permanent DUPLICATE_CONTENT (after an unknown outcome it usually means the first post
exists: reconcile); other 403 -> permanent; 400 -> validation; 5xx -> transient before the post.
X posts are public: privacy must be "public"; X's API cannot schedule.
"""

from __future__ import annotations

import html
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
from skills.publish.text import compose_text, x_weighted_length
from skills.ratelimit import Limit
from skills.settings.publish import PublishSettings
from skills.text import parse_time

PLATFORM = "twitter"
TWEETS_LIMIT = Limit(calls=100, per_seconds=900)  # POST /2/tweets per user
LOOKUP_LIMIT = Limit(calls=900, per_seconds=900)  # GET /2/tweets/:id per user
POST_LIMIT = 280


def status_url(post_id: str) -> str:
    return f"https://x.com/i/web/status/{post_id}"


def compose_post(request: PublishContentInput) -> str:
    """The post's text: title, then description and hashtags as far as they fit (280)."""
    return compose_text(
        request.title,
        request.description,
        request.tags,
        limit=POST_LIMIT,
        length=x_weighted_length,
        platform=PLATFORM,
    )


class XPublisher:
    """Publishes with X API v2 (OAuth 2.0 user access token from the settings)."""

    platform = PLATFORM

    def __init__(
        self, ctx: SkillContext, settings: PublishSettings, account: str | None = None
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.account = account

    # --- Helpers ------------------------------------------------------------------------------
    async def _auth(self) -> dict[str, str]:
        return await authorization(
            self.ctx, PLATFORM, self.account, self.settings.x_access_token, "CHIMERA_X_ACCESS_TOKEN"
        )

    def _bucket(self, operation: str) -> str:
        return f"x:{operation}:{self.settings.x_account}"

    def _url(self, path: str) -> str:
        return f"{self.settings.x_api_url}{path}"

    async def error_for(
        self, response: httpx.Response, step: str, bucket: str | None = None
    ) -> OperationError:
        """The chimera error for an X error answer (problem details or errors[])."""
        body = json_object(response)
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        detail = str(
            body.get("detail")
            or first.get("detail")
            or first.get("message")
            or body.get("title")
            or response.reason_phrase
            or "error"
        )[:300]
        kind = str(body.get("type") or first.get("type") or "")
        status = response.status_code
        details: dict[str, Any] = {
            "platform": PLATFORM,
            "step": step,
            "status": status,
            "type": kind or None,
        }
        text = f"twitter {step}: {detail}"
        if status == 401:
            return PermanentError(text, code="AUTH_INVALID", details=details)
        if status == 429 or "usage-capped" in kind:
            return await wait_error(
                self.ctx,
                platform=PLATFORM,
                step=step,
                code="USAGE_CAPPED" if "usage-capped" in kind else "RATE_LIMITED",
                message=text,
                wait_s=retry_after_seconds(response),
                max_inline_wait_s=self.settings.max_inline_wait_s,
                bucket=self._bucket(bucket or step),
                details=details,
            )
        if status == 403 and "duplicate" in detail.lower():
            return PermanentError(text, code="DUPLICATE_CONTENT", details=details)
        if status == 403:
            return PermanentError(text, code="FORBIDDEN", details=details)
        if status in (400, 413, 422):
            return ValidationError(text, code="INVALID_REQUEST", details=details)
        if status >= 500:
            return TransientError(text, code="PLATFORM_UNAVAILABLE", details=details)
        if status == 404:
            return PermanentError(text, code="NOT_FOUND", details=details)
        return PermanentError(text, code="PLATFORM_REFUSED", details=details)

    async def _json(
        self, method: str, path: str, *, step: str, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> dict[str, Any]:
        response = await send(
            self.ctx.http,
            method,
            self._url(path),
            platform=PLATFORM,
            step=step,
            headers=await self._auth(),
            **kwargs,
        )
        if response.status_code not in ok:
            raise await self.error_for(response, step)
        return json_object(response)

    # --- Publisher protocol -------------------------------------------------------------------
    def validate(self, request: PublishContentInput) -> None:
        problems = []
        if request.privacy != "public":
            problems.append("posts on X are public: set privacy to 'public'")
        if request.scheduled_at is not None:
            problems.append("X API v2 cannot schedule posts; publish at the time instead")
        if problems:
            raise ValidationError(
                "; ".join(problems),
                code="INVALID_FOR_PLATFORM",
                details={"platform": PLATFORM, "problems": problems},
            )

    async def publish(self, request: PublishContentInput) -> PublishResult:
        self.validate(request)
        text = compose_post(request)
        size = video_size(request.video_path)
        media_id, processing = await self._upload(request, size)
        await self._wait_processed(media_id, processing)
        return await self._post(request, text, media_id)

    async def fetch_engagement(self, post_id: str) -> EngagementCounts:
        await acquire(self.ctx, self._bucket("tweets_lookup"), LOOKUP_LIMIT)
        body = await self._json(
            "GET",
            f"/2/tweets/{post_id}",
            step="tweets_lookup",
            params={"tweet.fields": "public_metrics"},
        )
        data = body.get("data")
        if not isinstance(data, dict):
            raise PermanentError(
                f"twitter: no post {post_id}",
                code="POST_NOT_FOUND",
                details={"platform": PLATFORM, "post_id": post_id},
            )
        metrics = data.get("public_metrics") or {}
        return EngagementCounts(
            views=int(metrics.get("impression_count") or 0),
            likes=int(metrics.get("like_count") or 0),
            comments=int(metrics.get("reply_count") or 0),
            shares=int(metrics.get("retweet_count") or 0) + int(metrics.get("quote_count") or 0),
        )

    async def find_existing(self, query: ReconcileQuery) -> PublishResult | None:
        me = await self._json("GET", "/2/users/me", step="users_me")
        user_id = (me.get("data") or {}).get("id")
        if not user_id:
            return None
        timeline = await self._json(
            "GET",
            f"/2/users/{user_id}/tweets",
            step="user_tweets",
            params={"max_results": "20", "tweet.fields": "created_at"},
        )
        for post in timeline.get("data") or []:
            text = html.unescape(str(post.get("text") or ""))
            if text.strip().startswith(query.title.strip()) and post.get("id"):
                return PublishResult(
                    post_id=str(post["id"]),
                    url=status_url(str(post["id"])),
                    status="published",
                    published_at=parse_time(post.get("created_at")),
                    reused=True,
                )
        return None

    # --- Steps --------------------------------------------------------------------------------
    async def _upload(
        self, request: PublishContentInput, size: int
    ) -> tuple[str, dict[str, Any] | None]:
        """Initialize, append every segment, finalize: the media id and its processing_info."""
        init = await self._json(
            "POST",
            "/2/media/upload/initialize",
            step="media_initialize",
            json={
                "media_type": video_mime(request.video_path),
                "total_bytes": size,
                "media_category": "tweet_video",
            },
        )
        media_id = (init.get("data") or {}).get("id")
        if not media_id:
            raise TransientError(
                "twitter media_initialize: answer without an id",
                code="PLATFORM_UNAVAILABLE",
                details={"platform": PLATFORM},
            )
        media_id = str(media_id)
        chunk = self.settings.x_chunk_size
        for index, offset in enumerate(range(0, size, chunk)):
            data = await read_range(request.video_path, offset, min(chunk, size - offset))
            await self._append(media_id, index, data)
        final = await self._json(
            "POST", f"/2/media/upload/{media_id}/finalize", step="media_finalize"
        )
        processing = (final.get("data") or {}).get("processing_info")
        return media_id, processing if isinstance(processing, dict) else None

    async def _append(self, media_id: str, index: int, data: bytes) -> None:
        """One segment, retried on transient failures (re-sending a segment is harmless)."""
        attempts = 0
        while True:
            try:
                await self._json(
                    "POST",
                    f"/2/media/upload/{media_id}/append",
                    step="media_append",
                    ok=(200, 204),
                    data={"segment_index": str(index)},
                    files={"media": ("segment", data, "application/octet-stream")},
                )
                return
            except TransientError as exc:
                attempts += 1
                if attempts >= self.settings.upload_max_attempts or exc.code in (
                    "RATE_LIMITED",
                    "USAGE_CAPPED",
                ):
                    raise
                await self.ctx.sleep(self.ctx.retry.delay(attempts, exc.retry_after))

    async def _wait_processed(self, media_id: str, info: dict[str, Any] | None) -> None:
        """Poll STATUS while the video is pending/in_progress (bounded)."""
        polls = 0
        while isinstance(info, dict) and info.get("state") in ("pending", "in_progress"):
            polls += 1
            if polls > self.settings.x_max_polls:
                raise TransientError(
                    "twitter: media still processing; nothing was posted",
                    code="MEDIA_PROCESSING_TIMEOUT",
                    details={"platform": PLATFORM, "media_id": media_id},
                )
            wait = float(info.get("check_after_secs") or 1)
            await self.ctx.sleep(min(wait, self.settings.x_max_check_after_s))
            body = await self._json(
                "GET",
                "/2/media/upload",
                step="media_status",
                params={"command": "STATUS", "media_id": media_id},
            )
            info = (body.get("data") or {}).get("processing_info")
        if isinstance(info, dict) and info.get("state") == "failed":
            error = info.get("error") or {}
            raise ValidationError(
                f"twitter: the video was rejected ({error.get('message') or 'processing failed'})",
                code="MEDIA_REJECTED",
                details={"platform": PLATFORM, "media_id": media_id, "error": error},
            )

    async def _post(self, request: PublishContentInput, text: str, media_id: str) -> PublishResult:
        await acquire(self.ctx, self._bucket("tweets"), TWEETS_LIMIT)
        response = await send(
            self.ctx.http,
            "POST",
            self._url("/2/tweets"),
            platform=PLATFORM,
            step="create post",
            outcome_unknown=committing(PLATFORM, "create post", request.publication_id),
            headers=await self._auth(),
            json={"text": text, "media": {"media_ids": [media_id]}},
        )
        if response.status_code >= 500:
            raise outcome_unknown(
                PLATFORM,
                "create post",
                request.publication_id,
                reason=f"HTTP {response.status_code}",
            )
        if response.status_code not in (200, 201):
            raise await self.error_for(response, "create post", bucket="tweets")
        post_id = (json_object(response).get("data") or {}).get("id")
        if not post_id:
            raise outcome_unknown(
                PLATFORM, "create post", request.publication_id, reason="answer without a post id"
            )
        return PublishResult(
            post_id=str(post_id),
            url=status_url(str(post_id)),
            status="published",
            published_at=datetime.now(UTC),
        )
