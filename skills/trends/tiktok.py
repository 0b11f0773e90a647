"""TikTok: the Research API when this deployment is eligible and configured, otherwise nothing.

TikTok has no public commercial trends API. Its Research API (video query) is granted only to
eligible non-profit researchers. When `CHIMERA_TIKTOK_CLIENT_KEY` and
`CHIMERA_TIKTOK_CLIENT_SECRET` are set, this module:

1. gets a client access token: `POST https://open.tiktokapis.com/v2/oauth/token/` with
   `client_key`, `client_secret`, `grant_type=client_credentials` (form encoded);
2. queries `POST https://open.tiktokapis.com/v2/research/video/query/?fields=...` for videos of
   the configured regions created within `time_range` (at most 30 days apart, as TikTok
   requires), matching the requested categories as keywords, and ranks them by view count.

Otherwise it fails with a PERMANENT error (TIKTOK_NOT_CONFIGURED): "TikTok has no public
commercial trends API; configure the Research API if eligible, or inject TikTok trends as
TrendDiscovered events". Other platforms in the same request are unaffected.

Errors: TikTok's error object `{"error": {"code": .., "message": .., "log_id": ..}}` is mapped:
`access_token_invalid`, `scope_not_authorized`, `invalid_client` -> permanent;
`rate_limit_exceeded`, quota codes, `internal_error` and 5xx -> transient; `invalid_params` ->
permanent. The Research API allows 1,000 requests a day per client (shared limiter bucket).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from core.errors import PermanentError, TransientError
from events.trend import EngagementMetrics, Trend
from skills.http import json_body, send
from skills.ratelimit import TIKTOK_RESEARCH, bucket_name
from skills.trends.common import (
    SourceEnv,
    SourceRequest,
    SourceResult,
    as_count,
    clip,
    malformed,
    redact_url,
    retry_after,
    scrub,
    stable_id,
    status_error,
)

PLATFORM: Final = "tiktok"
NOT_CONFIGURED = (
    "TikTok has no public commercial trends API; configure the Research API if "
    "eligible, or inject TikTok trends as TrendDiscovered events"
)
FIELDS = (
    "id,video_description,create_time,region_code,share_count,view_count,like_count,"
    "comment_count,hashtag_names,username"
)
AUTH_CODES = {
    "access_token_invalid",
    "scope_not_authorized",
    "scope_permission_missed",
    "invalid_client",
    "unauthorized_client",
    "access_denied",
    "invalid_grant",
    "unauthorized",
}
RATE_CODES = {
    "rate_limit_exceeded",
    "daily_quota_limit_exceeded",
    "quota_exceeded",
    "too_many_requests",
}
SERVER_CODES = {"internal_error", "server_error", "temporarily_unavailable"}


def _error(env: SourceEnv, response: Any, code: str, message: str) -> Exception:
    details = {
        "platform": PLATFORM,
        "status": response.status_code,
        "tiktok_code": code,
        "url": redact_url(response.request.url),
    }
    text = scrub(message, env.secrets())[:300]
    if code in AUTH_CODES or response.status_code == 401:
        return PermanentError(
            f"TikTok refused the client credentials ({code}): {text}",
            code="TIKTOK_AUTH_FAILED",
            details=details,
        )
    if code in RATE_CODES or response.status_code == 429:
        return TransientError(
            f"TikTok rate limit reached ({code}): {text}",
            code="RATE_LIMITED",
            details=details,
            retry_after=retry_after(response),
        )
    if code in SERVER_CODES or response.status_code >= 500:
        return TransientError(
            f"TikTok server error ({code}): {text}",
            code="UPSTREAM_UNAVAILABLE",
            details=details,
            retry_after=retry_after(response),
        )
    if code == "invalid_params":
        return PermanentError(
            f"TikTok rejected the query: {text}", code="TIKTOK_INVALID_QUERY", details=details
        )
    return status_error(
        env, PLATFORM, response, code="TIKTOK_REQUEST_REJECTED", message=f"{code}: {text}"
    )


async def client_token(env: SourceEnv) -> str:
    """A client access token for the Research API (client credentials grant)."""
    key, secret = env.settings.tiktok_client_key, env.settings.tiktok_client_secret
    assert key is not None and secret is not None
    response = await send(
        env.http,
        "POST",
        f"{env.settings.tiktok_base_url}/v2/oauth/token/",
        platform=PLATFORM,
        step="oauth token",
        timeout=env.timeout,
        report_url=redact_url,
        data={
            "client_key": key.get_secret_value(),
            "client_secret": secret.get_secret_value(),
            "grant_type": "client_credentials",
        },
        headers={"Cache-Control": "no-cache"},
    )
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
        raise _error(env, response, body["error"], str(body.get("error_description", "")))
    if response.status_code != 200:
        raise status_error(
            env, PLATFORM, response, code="TIKTOK_TOKEN_REJECTED", message=response.reason_phrase
        )
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise malformed(PLATFORM, "no access_token in the token response", response)
    return token


def query_body(req: SourceRequest, regions: list[str]) -> dict[str, Any]:
    """The Research API query: regions, category keywords, and the time range's dates."""
    conditions: list[dict[str, Any]] = [
        {"operation": "IN", "field_name": "region_code", "field_values": regions},
    ]
    body: dict[str, Any] = {
        "query": {"and": conditions},
        "start_date": req.since.astimezone(UTC).strftime("%Y%m%d"),
        "end_date": req.now.astimezone(UTC).strftime("%Y%m%d"),
        "max_count": 100,
        "is_random": False,
    }
    if req.categories:
        body["query"]["or"] = [
            {"operation": "EQ", "field_name": "keyword", "field_values": [c]}
            for c in req.categories
        ]
    return body


async def fetch(req: SourceRequest, env: SourceEnv) -> SourceResult:
    """Most viewed videos matching the request, through the Research API (when configured)."""
    key, secret = env.settings.tiktok_client_key, env.settings.tiktok_client_secret
    if not key or not secret or not key.get_secret_value() or not secret.get_secret_value():
        raise PermanentError(
            NOT_CONFIGURED, code="TIKTOK_NOT_CONFIGURED", details={"platform": PLATFORM}
        )
    bucket = bucket_name(PLATFORM, "research", key.get_secret_value())
    token = await client_token(env)
    regions = [req.region_code] if req.region_code else env.settings.tiktok_region_codes
    await env.acquire(bucket, TIKTOK_RESEARCH)
    response = await send(
        env.http,
        "POST",
        f"{env.settings.tiktok_base_url}/v2/research/video/query/",
        platform=PLATFORM,
        step="video query",
        timeout=env.timeout,
        report_url=redact_url,
        params={"fields": FIELDS},
        json=query_body(req, regions),
        headers={"Authorization": f"Bearer {token}"},
    )
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    if response.status_code != 200 or (code and code != "ok"):
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
        exc = _error(
            env, response, code or f"http_{response.status_code}", message or response.reason_phrase
        )
        if isinstance(exc, TransientError) and exc.code == "RATE_LIMITED":
            await env.hold(bucket, exc.retry_after)
        raise exc
    data = body.get("data") if isinstance(body, dict) else None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, list):
        raise malformed(PLATFORM, "no data.videos list in the query response", response)
    trends = [t for t in (_trend(v, req) for v in videos) if t is not None]
    trends.sort(key=lambda t: t.engagement_metrics.views, reverse=True)
    return SourceResult(trends=trends[: req.max_results])


def _trend(video: Any, req: SourceRequest) -> Trend | None:
    if not isinstance(video, dict) or video.get("id") in (None, ""):
        return None
    video_id = str(video["id"])
    if not video_id.isdigit():
        return None
    created = video.get("create_time")
    if isinstance(created, int | float) and datetime.fromtimestamp(created, UTC) < req.since:
        return None
    hashtags = [
        clip(str(h), 100)
        for h in (video.get("hashtag_names") or [])
        if isinstance(h, str) and h.strip()
    ][:15]
    description = clip(video.get("video_description"), 2000)
    title = clip(description, 100) or f"TikTok video {video_id}"
    username = str(video.get("username") or "").strip()
    url_user = username if username.replace(".", "").replace("_", "").isalnum() else ""
    return Trend(
        id=stable_id(PLATFORM, video_id),
        platform=PLATFORM,
        topic=clip(hashtags[0] if hashtags else title, 255),
        title=title,
        description=description,
        engagement_metrics=EngagementMetrics.of(
            views=as_count(video.get("view_count")),
            likes=as_count(video.get("like_count")),
            comments=as_count(video.get("comment_count")),
            shares=as_count(video.get("share_count")),
        ),
        timestamp=req.now.astimezone(UTC),
        url=f"https://www.tiktok.com/@{url_user}/video/{video_id}",
        tags=hashtags,
    )
