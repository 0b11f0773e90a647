"""YouTube Data API v3: the mostPopular chart, per requested category.

`GET {base}/videos?part=snippet,statistics&chart=mostPopular&regionCode=..&videoCategoryId=..
&maxResults=..&key=..` costs 1 quota unit per call; a project has 10,000 units a day by default
(`CHIMERA_YOUTUBE_DAILY_UNITS` sets the budget the limiter paces against). Each requested
category that maps to a video category id is one call; without one the overall chart is read.
Since July 2025 the chart draws from the Music, Movies and Gaming charts, so other categories
may answer "chart not found": that category is reported in `errors`, the others still count.

Errors: `quotaExceeded`/`dailyLimitExceeded` are transient until the quota resets at midnight
Pacific time (the bucket is held until then, the reset time is in the error's details);
`rateLimitExceeded`/`userRateLimitExceeded` and 429 are transient; an invalid, expired or
blocked key, or the API not enabled, is permanent. The key travels as the documented `key=`
query parameter and is removed from every URL that is reported or logged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import OperationError, PermanentError, TransientError
from events.trend import EngagementMetrics, Trend
from skills.http import json_body, send
from skills.ratelimit import YOUTUBE_VIDEOS_LIST_COST, bucket_name, youtube_quota
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
from skills.trends.models import SourceError

PLATFORM: Final = "youtube"
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{6,64}")

# Category words -> YouTube video category ids (the US list of `videoCategories.list`).
CATEGORY_IDS: dict[str, str] = {
    "film": "1",
    "animation": "1",
    "autos": "2",
    "vehicles": "2",
    "cars": "2",
    "music": "10",
    "pets": "15",
    "animals": "15",
    "sports": "17",
    "sport": "17",
    "travel": "19",
    "events": "19",
    "gaming": "20",
    "games": "20",
    "people": "22",
    "blogs": "22",
    "vlogs": "22",
    "comedy": "23",
    "entertainment": "24",
    "news": "25",
    "politics": "25",
    "howto": "26",
    "how-to": "26",
    "style": "26",
    "beauty": "26",
    "fashion": "26",
    "education": "27",
    "science": "28",
    "technology": "28",
    "tech": "28",
    "nonprofits": "29",
    "activism": "29",
    "movies": "30",
}

QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
AUTH_REASONS = {
    "keyInvalid",
    "keyExpired",
    "API_KEY_INVALID",
    "API_KEY_EXPIRED",
    "forbidden",
    "accessNotConfigured",
    "ipRefererBlocked",
    "SERVICE_DISABLED",
    "API_KEY_SERVICE_BLOCKED",
    "API_KEY_HTTP_REFERRER_BLOCKED",
    "authError",
    "unauthorized",
}
CHART_REASONS = {"videoChartNotFound", "videoCategoryNotFound", "unsupportedCategory"}


def _pacific() -> Any:
    try:
        return ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:  # no tz database: PST is close enough
        from datetime import timezone

        return timezone(timedelta(hours=-8))


def quota_reset_in(now: datetime) -> float:
    """Seconds until YouTube's daily quota resets (midnight Pacific time)."""
    local = now.astimezone(_pacific())
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max((midnight - local).total_seconds(), 1.0)


def category_queries(categories: list[str]) -> list[tuple[str | None, str | None]]:
    """(category word, video category id) pairs to query; (None, None) is the whole chart."""
    seen: dict[str, str] = {}
    for word in categories:
        cid = CATEGORY_IDS.get(word.strip().lower())
        if cid and cid not in seen.values():
            seen[word] = cid
    return list(seen.items()) if seen else [(None, None)]


def _reasons(body: Any) -> list[str]:
    reasons: list[str] = []
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for item in error.get("errors") or []:
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                reasons.append(item["reason"])
        for item in error.get("details") or []:
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                reasons.append(item["reason"])
    return reasons


class ChartNotFound(PermanentError):
    """The chart does not exist for this category (or region)."""

    default_code = "YOUTUBE_CHART_NOT_FOUND"


async def fetch(req: SourceRequest, env: SourceEnv) -> SourceResult:
    """The mostPopular chart for each requested category, as trends (ranked as YouTube ranks)."""
    key = env.settings.youtube_api_key
    if key is None or not key.get_secret_value():
        raise PermanentError(
            "YouTube is not configured: set CHIMERA_YOUTUBE_API_KEY (YouTube Data API v3 key)",
            code="YOUTUBE_NOT_CONFIGURED",
            details={"platform": PLATFORM},
        )
    bucket = bucket_name(PLATFORM, "videos.list", key.get_secret_value())
    limit = youtube_quota(env.settings.youtube_daily_units)
    region = req.region_code or env.settings.youtube_region_code
    result = SourceResult()
    seen: dict[str, Trend] = {}
    failures: list[OperationError] = []
    for word, category_id in category_queries(req.categories):
        params: dict[str, str | int] = {
            "part": "snippet,statistics",
            "chart": "mostPopular",
            "regionCode": region,
            "maxResults": min(req.max_results, 50),
            "key": key.get_secret_value(),
        }
        if category_id:
            params["videoCategoryId"] = category_id
        await env.acquire(bucket, limit, YOUTUBE_VIDEOS_LIST_COST)
        response = await send(
            env.http,
            "GET",
            f"{env.settings.youtube_base_url}/videos",
            platform=PLATFORM,
            step="videos.list",
            timeout=env.timeout,
            report_url=redact_url,
            params=params,
        )
        try:
            items = await _items(env, response, bucket, req.now)
        except ChartNotFound as exc:
            exc.details["category"] = word
            failures.append(exc)
            result.errors.append(
                SourceError(platform=PLATFORM, source=f"category:{word}", error=exc.info)
            )
            continue
        for item in items:
            trend = _trend(item, word, req.now)
            if trend is None:
                continue
            if trend.id in seen:
                merged = list(dict.fromkeys(seen[trend.id].tags + trend.tags))
                seen[trend.id] = seen[trend.id].model_copy(update={"tags": merged})
            else:
                seen[trend.id] = trend
    if not seen and failures and len(failures) == len(category_queries(req.categories)):
        raise failures[0]
    result.trends = list(seen.values())
    return result


async def _items(env: SourceEnv, response: Any, bucket: str, now: datetime) -> list[Any]:
    body = json_body(response)
    if response.status_code == 200:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise malformed(PLATFORM, "no items list in videos.list response", response)
        return list(body["items"])
    reasons = _reasons(body)
    error = body.get("error") if isinstance(body, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else response.reason_phrase
    message = scrub(message, env.secrets())[:300]
    details = {
        "platform": PLATFORM,
        "status": response.status_code,
        "reasons": reasons,
        "url": redact_url(response.request.url),
    }
    if QUOTA_REASONS & set(reasons):
        # No Retry-After: the quota comes back at midnight Pacific time. Every process is
        # told (the bucket is held until then), and the reset time is in the details; the
        # error carries no retry_after, so a caller's retries back off briefly and are
        # refused by the limiter instead of sleeping for hours.
        wait = quota_reset_in(now)
        await env.hold(bucket, wait)
        details["quota_resets_in_s"] = round(wait)
        details["quota_resets_at"] = (now + timedelta(seconds=wait)).astimezone(UTC).isoformat()
        raise TransientError(
            f"YouTube quota exceeded until midnight Pacific time: {message}",
            code="QUOTA_EXCEEDED",
            details=details,
        )
    if RATE_REASONS & set(reasons) or response.status_code == 429:
        wait_s = retry_after(response)
        await env.hold(bucket, wait_s)
        raise TransientError(
            f"YouTube rate limit exceeded: {message}",
            code="RATE_LIMITED",
            details=details,
            retry_after=wait_s,
        )
    if (
        AUTH_REASONS & set(reasons)
        or response.status_code == 401
        or (response.status_code == 400 and "api key" in message.lower())
    ):
        raise PermanentError(
            f"YouTube refused the API key: {message}", code="YOUTUBE_AUTH_FAILED", details=details
        )
    if CHART_REASONS & set(reasons):
        raise ChartNotFound(f"YouTube has no mostPopular chart here: {message}", details=details)
    raise status_error(
        env,
        PLATFORM,
        response,
        code="YOUTUBE_REQUEST_REJECTED",
        message=message,
        reason=",".join(reasons) or None,
    )


def _trend(item: Any, category: str | None, now: datetime) -> Trend | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    if not VIDEO_ID.fullmatch(item["id"]):
        return None
    snippet: dict[str, Any] = item["snippet"] if isinstance(item.get("snippet"), dict) else {}
    stats: dict[str, Any] = item["statistics"] if isinstance(item.get("statistics"), dict) else {}
    title = clip(snippet.get("title"), 500) or item["id"]
    raw_tags: list[Any] = snippet["tags"] if isinstance(snippet.get("tags"), list) else []
    tags = [clip(str(t), 100) for t in raw_tags[:15] if str(t).strip()]
    topic = clip(tags[0] if tags else title, 255)
    if category:
        tags = [category, *tags]
    return Trend(
        id=stable_id(PLATFORM, item["id"]),
        platform=PLATFORM,
        topic=topic,
        title=title,
        description=clip(snippet.get("description"), 2000),
        engagement_metrics=EngagementMetrics.of(
            views=as_count(stats.get("viewCount")),
            likes=as_count(stats.get("likeCount")),
            comments=as_count(stats.get("commentCount")),
        ),
        timestamp=now.astimezone(UTC),
        url=f"https://www.youtube.com/watch?v={item['id']}",
        tags=list(dict.fromkeys(tags)),
    )
