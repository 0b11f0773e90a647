"""YouTube Data API v3 publisher: resumable upload, statistics, reconciliation.

Upload protocol (developers.google.com/youtube/v3/guides/using_resumable_upload_protocol):
`POST .../upload/youtube/v3/videos?uploadType=resumable&part=snippet,status` with the metadata
returns the session URI in `Location`; chunks (multiples of 256 KiB, the last one excepted) are
PUT with `Content-Range: bytes a-b/total`; `308 Resume Incomplete` carries `Range: bytes=0-N`
(what the server has); `200`/`201` carries the video resource. After a connection error or a
5xx, `PUT` with `Content-Range: bytes */total` asks how far the server got, and the upload
continues from there.

The create step is the request that delivers the last byte. Once it may have arrived, no
failure is reported as transient: the status query decides, and if it cannot, the error is
OUTCOME_UNKNOWN. YouTube accepts no idempotency key; reconciliation looks for the title among
the channel's uploads (channels.list mine=true, playlistItems.list; 1 quota unit each, unlike
search.list's 100).

Error mapping: 401/authError -> permanent (alert); quotaExceeded/dailyLimitExceeded ->
transient, retry after midnight Pacific time (quota reset); rateLimitExceeded/
userRateLimitExceeded/429/5xx -> transient; uploadLimitExceeded (the channel's rolling daily
upload cap) -> transient (it lifts by itself within a day; nothing for a person to fix), with
code UPLOAD_LIMIT_EXCEEDED so schedulers can back off for hours; other 400/invalid* ->
validation; other 403 -> permanent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from core.errors import PermanentError, TransientError, ValidationError
from skills.context import SkillContext
from skills.http import json_body, json_object, retry_after_seconds, send
from skills.publish.errors import (
    OutcomeUnknownError,
    acquire,
    authorization,
    committing,
    outcome_unknown,
    wait_error,
)
from skills.publish.media import read_range, video_mime, video_size
from skills.publish.models import (
    EngagementCounts,
    PublishContentInput,
    PublishResult,
    ReconcileQuery,
)
from skills.ratelimit import Limit
from skills.settings.publish import PublishSettings
from skills.text import parse_time

PLATFORM = "youtube"
INSERT_LIMIT = Limit(calls=100, per_seconds=86_400)  # videos.insert: own bucket, 100 a day
UNITS_LIMIT = Limit(calls=10_000, per_seconds=86_400)  # other endpoints: 10,000 units a day
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    """Seconds until the next midnight Pacific time, when YouTube quotas reset."""
    try:
        zone: Any = ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:  # pragma: no cover - the system has no tz database
        zone = UTC
    local = (now or datetime.now(UTC)).astimezone(zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - local).total_seconds()


class YouTubePublisher:
    """Publishes with the YouTube Data API v3 (OAuth bearer token from the settings)."""

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
            self.ctx,
            PLATFORM,
            self.account,
            self.settings.youtube_access_token,
            "CHIMERA_YOUTUBE_ACCESS_TOKEN",
        )

    @property
    def _units_bucket(self) -> str:
        return f"youtube:units:{self.settings.youtube_account}"

    async def error_for(self, response: httpx.Response, step: str) -> Exception:
        """The chimera error for a YouTube error response."""
        body = json_object(response)
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        errors = error.get("errors") if isinstance(error.get("errors"), list) else []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        reason = str(first.get("reason") or "")
        message = str(error.get("message") or response.reason_phrase or "error")[:300]
        status = response.status_code
        details: dict[str, Any] = {
            "platform": PLATFORM,
            "step": step,
            "status": status,
            "reason": reason,
        }
        text = f"youtube {step}: {message}"
        if status == 401 or reason in ("authError", "unauthorized", "invalidCredentials"):
            return PermanentError(text, code="AUTH_INVALID", details=details)
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            return await wait_error(
                self.ctx,
                platform=PLATFORM,
                step=step,
                code="QUOTA_EXCEEDED",
                message=text,
                wait_s=seconds_until_quota_reset(),
                max_inline_wait_s=self.settings.max_inline_wait_s,
                bucket=self._units_bucket,
                details=details,
            )
        if reason == "uploadLimitExceeded":
            return TransientError(
                text,
                code="UPLOAD_LIMIT_EXCEEDED",
                details={**details, "hint": "channel's daily upload cap"},
            )
        if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
            return await wait_error(
                self.ctx,
                platform=PLATFORM,
                step=step,
                code="RATE_LIMITED",
                message=text,
                wait_s=retry_after_seconds(response),
                max_inline_wait_s=self.settings.max_inline_wait_s,
                bucket=self._units_bucket,
                details=details,
            )
        if status >= 500 or reason in ("backendError", "internalError"):
            return TransientError(text, code="PLATFORM_UNAVAILABLE", details=details)
        if status == 400 or reason.startswith("invalid") or reason == "mediaBodyRequired":
            return ValidationError(text, code="INVALID_REQUEST", details=details)
        if status == 403:
            return PermanentError(text, code="FORBIDDEN", details=details)
        if status == 404:
            return PermanentError(text, code="NOT_FOUND", details=details)
        return PermanentError(text, code="PLATFORM_REFUSED", details=details)

    async def _get(self, path: str, params: dict[str, str], step: str) -> dict[str, Any]:
        await acquire(self.ctx, self._units_bucket, UNITS_LIMIT)
        response = await send(
            self.ctx.http,
            "GET",
            f"{self.settings.youtube_api_url}/{path}",
            platform=PLATFORM,
            step=step,
            params=params,
            headers=await self._auth(),
        )
        if response.status_code != 200:
            raise await self.error_for(response, step)
        return json_object(response)

    # --- Publisher protocol -------------------------------------------------------------------
    def validate(self, request: PublishContentInput) -> None:
        """YouTube's documented metadata limits, checked before any quota is spent."""
        problems = []
        if len(request.title) > 100:
            problems.append("title is longer than 100 characters")
        if any(ch in request.title + request.description for ch in "<>"):
            problems.append("title and description must not contain < or >")
        if len(request.description.encode()) > 5000:
            problems.append("description is longer than 5000 bytes")
        tag_chars = sum(len(t) + (2 if " " in t else 0) for t in request.tags)
        if tag_chars + max(0, len(request.tags) - 1) > 500:
            problems.append("tags are longer than 500 characters in total")
        if request.scheduled_at is not None:
            if request.privacy != "public":
                problems.append(
                    "scheduled_at needs privacy 'public' (YouTube publishes "
                    "scheduled videos by making them public)"
                )
            if request.scheduled_at <= datetime.now(UTC):
                problems.append("scheduled_at is in the past")
        if problems:
            raise ValidationError(
                "; ".join(problems),
                code="INVALID_FOR_PLATFORM",
                details={"platform": PLATFORM, "problems": problems},
            )

    async def publish(self, request: PublishContentInput) -> PublishResult:
        self.validate(request)
        size = video_size(request.video_path)
        auth = await self._auth()
        await acquire(
            self.ctx, f"youtube:videos.insert:{self.settings.youtube_account}", INSERT_LIMIT
        )
        session = await self._open_session(request, size, auth)
        video = await self._upload(session, request, size, auth)
        video_id = video.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise outcome_unknown(
                PLATFORM,
                "upload",
                request.publication_id,
                reason="completed upload without a video id",
            )
        scheduled = request.scheduled_at is not None
        published_at = None
        if not scheduled:
            raw = (video.get("snippet") or {}).get("publishedAt")
            published_at = parse_time(raw) or datetime.now(UTC)
        return PublishResult(
            post_id=video_id,
            url=watch_url(video_id),
            status="scheduled" if scheduled else "published",
            published_at=published_at,
            scheduled_at=request.scheduled_at,
        )

    async def fetch_engagement(self, post_id: str) -> EngagementCounts:
        body = await self._get("videos", {"part": "statistics", "id": post_id}, "statistics")
        items = body.get("items") or []
        if not items:
            raise PermanentError(
                f"youtube: no video {post_id}",
                code="POST_NOT_FOUND",
                details={"platform": PLATFORM, "post_id": post_id},
            )
        stats = items[0].get("statistics") or {}
        return EngagementCounts(
            views=_int(stats.get("viewCount")),
            likes=_int(stats.get("likeCount")),
            comments=_int(stats.get("commentCount")),
            shares=0,  # the Data API publishes no share count
        )

    async def find_existing(self, query: ReconcileQuery) -> PublishResult | None:
        channels = await self._get(
            "channels", {"part": "contentDetails", "mine": "true"}, "channels"
        )
        items = channels.get("items") or []
        if not items:
            return None
        uploads = ((items[0].get("contentDetails") or {}).get("relatedPlaylists") or {}).get(
            "uploads"
        )
        if not uploads:
            return None
        listing = await self._get(
            "playlistItems",
            {"part": "snippet", "playlistId": uploads, "maxResults": "50"},
            "playlistItems",
        )
        for item in listing.get("items") or []:
            snippet = item.get("snippet") or {}
            video_id = (snippet.get("resourceId") or {}).get("videoId")
            if snippet.get("title", "").strip() == query.title.strip() and video_id:
                return PublishResult(
                    post_id=video_id,
                    url=watch_url(video_id),
                    status="published",
                    published_at=parse_time(snippet.get("publishedAt")),
                    reused=True,
                )
        return None

    # --- Upload -------------------------------------------------------------------------------
    def _metadata(self, request: PublishContentInput) -> dict[str, Any]:
        status: dict[str, Any] = {
            "privacyStatus": request.privacy,
            "selfDeclaredMadeForKids": request.made_for_kids,
            # The altered-or-synthetic content disclosure (videos resource, status).
            "containsSyntheticMedia": request.ai_generated,
        }
        if request.scheduled_at is not None:
            status["privacyStatus"] = "private"  # publishAt needs private; public at that time
            status["publishAt"] = (
                request.scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
            )
        return {
            "snippet": {
                "title": request.title,
                "description": request.description,
                "tags": request.tags,
                "categoryId": request.youtube_category_id,
            },
            "status": status,
        }

    async def _open_session(
        self, request: PublishContentInput, size: int, auth: dict[str, str]
    ) -> str:
        response = await send(
            self.ctx.http,
            "POST",
            self.settings.youtube_upload_url,
            platform=PLATFORM,
            step="initiate",
            params={"uploadType": "resumable", "part": "snippet,status"},
            headers={
                **auth,
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Length": str(size),
                "X-Upload-Content-Type": video_mime(request.video_path),
            },
            json=self._metadata(request),
        )
        if response.status_code != 200:
            raise await self.error_for(response, "initiate")
        location = response.headers.get("location")
        if not location:
            raise TransientError(
                "youtube initiate: no upload session in the answer",
                code="PLATFORM_UNAVAILABLE",
                details={"platform": PLATFORM},
            )
        return location

    @contextmanager
    def _committed(self, publication_id: str, active: bool) -> Iterator[None]:
        """Once the last byte may have arrived, a transient error becomes OUTCOME_UNKNOWN."""
        try:
            yield
        except TransientError as exc:
            if not active:
                raise
            raise outcome_unknown(PLATFORM, "upload", publication_id, reason=exc.code) from exc

    async def _upload(
        self, session: str, request: PublishContentInput, size: int, auth: dict[str, str]
    ) -> dict[str, Any]:
        chunk = self.settings.youtube_chunk_size
        mime = video_mime(request.video_path)
        offset = 0
        failures = 0
        final_sent = False  # a request that may complete the upload got no clear answer
        querying = False
        while True:
            problem: str | None = None
            response: httpx.Response | None = None
            was_query = querying
            if not querying:
                end = min(offset + chunk, size)
                data = await read_range(request.video_path, offset, end - offset)
                is_final = end == size
                headers = {
                    **auth,
                    "Content-Type": mime,
                    "Content-Length": str(len(data)),
                    "Content-Range": f"bytes {offset}-{end - 1}/{size}",
                }
            else:
                data = b""
                is_final = False
                headers = {**auth, "Content-Length": "0", "Content-Range": f"bytes */{size}"}
            # Once a request that may complete the upload has left, its failures are not
            # transient: send raises OutcomeUnknownError, and the status query asks the server.
            try:
                response = await send(
                    self.ctx.http,
                    "PUT",
                    session,
                    platform=PLATFORM,
                    step="upload",
                    outcome_unknown=(
                        committing(PLATFORM, "upload", request.publication_id)
                        if is_final or final_sent
                        else None
                    ),
                    content=data,
                    headers=headers,
                )
            except OutcomeUnknownError as exc:
                problem = str(exc.details["reason"])
                final_sent = True
            except TransientError as exc:
                problem = exc.code
            if response is not None:
                code = response.status_code
                if code in (200, 201):
                    video = json_body(response)
                    if not isinstance(video, dict):
                        raise outcome_unknown(
                            PLATFORM,
                            "upload",
                            request.publication_id,
                            reason="unreadable video resource",
                        )
                    return video
                if code == 308:
                    new_offset = _next_offset(response)
                    final_sent = False  # the server says it lacks bytes: nothing was created
                    if new_offset >= size:
                        problem = "inconsistent Range in 308"
                    else:
                        progressed = new_offset > offset
                        offset = new_offset
                        querying = False
                        if progressed:
                            failures = 0
                            continue
                        if was_query:
                            continue  # resume from where the server is
                        problem = "no progress"
                elif code >= 500 or code == 429:
                    problem = f"HTTP {code}"
                    final_sent = final_sent or is_final
                elif code in (404, 410):
                    if final_sent or is_final:
                        raise outcome_unknown(
                            PLATFORM,
                            "upload",
                            request.publication_id,
                            reason=f"upload session gone (HTTP {code})",
                        )
                    raise TransientError(
                        "youtube upload: the upload session expired",
                        code="UPLOAD_SESSION_EXPIRED",
                        details={"platform": PLATFORM},
                    )
                else:
                    with self._committed(request.publication_id, final_sent):
                        raise await self.error_for(response, "upload")
            failures += 1
            if failures >= self.settings.upload_max_attempts:
                if final_sent:
                    raise outcome_unknown(
                        PLATFORM,
                        "upload",
                        request.publication_id,
                        reason=f"last chunk unconfirmed: {problem}",
                    )
                raise TransientError(
                    f"youtube upload interrupted ({problem}); nothing was published",
                    code="UPLOAD_INTERRUPTED",
                    details={"platform": PLATFORM, "offset": offset, "size": size},
                )
            await self.ctx.sleep(self.ctx.retry.delay(failures))
            querying = True


def _next_offset(response: httpx.Response) -> int:
    match = _RANGE.search(response.headers.get("range", ""))
    return int(match.group(2)) + 1 if match else 0


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
