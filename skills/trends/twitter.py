"""X (the specification's "twitter") API v2: trends of a location.

`GET https://api.x.com/2/trends/by/woeid/:id?max_trends=..&trend.fields=trend_name,tweet_count`
with the app's bearer token answers `{"data": [{"trend_name": .., "tweet_count": ..}]}`.
The limit is 75 requests per 15 minutes per app; calls are paced through the shared limiter and
a 429 holds the bucket until `x-rate-limit-reset` (or Retry-After) for every process.

X reports no views for a trend, only the number of posts about it in the last 24 hours
(`tweet_count`, when available). That count is carried as `engagement_metrics.views`, so the
trend's velocity is the growth of that post count per hour. X trends have no categories: the
requested categories do not filter them.

Errors: 429 (rate limit, or `usage-capped` for a monthly cap) -> transient; 401 (invalid or
revoked token) and 403 (app not enrolled / forbidden) -> permanent; `errors` without `data`
(an unknown WOEID) -> permanent.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, Final
from urllib.parse import quote

from core.errors import PermanentError, TransientError
from events.trend import EngagementMetrics, Trend
from skills.http import json_body, send
from skills.ratelimit import X_TRENDS, bucket_name
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

PLATFORM: Final = "twitter"


def _problem(body: Any) -> tuple[str, str, str]:
    """(title, detail, type) of an X problem body, or of its first `errors` entry."""
    if not isinstance(body, dict):
        return "", "", ""
    source = body
    if not body.get("title") and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        source = first if isinstance(first, dict) else body
    return (
        str(source.get("title", "")),
        str(source.get("detail", source.get("message", ""))),
        str(source.get("type", "")),
    )


async def fetch(req: SourceRequest, env: SourceEnv) -> SourceResult:
    """Current trends of the configured (or requested) WOEID, in X's order."""
    token = env.settings.x_bearer_token
    if token is None or not token.get_secret_value():
        raise PermanentError(
            "X is not configured: set CHIMERA_X_BEARER_TOKEN (app bearer token)",
            code="X_NOT_CONFIGURED",
            details={"platform": PLATFORM},
        )
    woeid = req.woeid or env.settings.x_woeid
    bucket = bucket_name("x", "trends", token.get_secret_value())
    await env.acquire(bucket, X_TRENDS)
    response = await send(
        env.http,
        "GET",
        f"{env.settings.x_base_url}/2/trends/by/woeid/{woeid}",
        platform=PLATFORM,
        step="trends",
        timeout=env.timeout,
        report_url=redact_url,
        params={"max_trends": min(req.max_results, 50), "trend.fields": "trend_name,tweet_count"},
        headers={"Authorization": f"Bearer {token.get_secret_value()}"},
    )
    body = json_body(response)
    title, detail, kind = _problem(body)
    message = scrub(
        " - ".join(p for p in (title, detail) if p) or response.reason_phrase, env.secrets()
    )[:300]
    details = {
        "platform": PLATFORM,
        "status": response.status_code,
        "url": redact_url(response.request.url),
    }
    if response.status_code == 429:
        wait = retry_after(response)
        capped = "usage-capped" in kind or title == "UsageCapExceeded"
        if capped:
            raise TransientError(
                f"X usage cap reached: {message}",
                code="USAGE_CAPPED",
                details=details,
                retry_after=wait,
            )
        await env.hold(bucket, wait)
        raise TransientError(
            f"X rate limit reached: {message}",
            code="RATE_LIMITED",
            details=details,
            retry_after=wait,
        )
    if response.status_code in (401, 403):
        raise PermanentError(
            f"X refused the bearer token ({response.status_code}): {message}",
            code="X_AUTH_FAILED",
            details=details,
        )
    if response.status_code != 200:
        raise status_error(env, PLATFORM, response, code="X_REQUEST_REJECTED", message=message)
    if not isinstance(body, dict):
        raise malformed(PLATFORM, "body is not a JSON object", response)
    data = body.get("data")
    if data is None:
        if body.get("errors"):
            raise PermanentError(
                f"X returned no trends for WOEID {woeid}: {message}",
                code="X_TRENDS_ERROR",
                details={**details, "woeid": woeid},
            )
        return SourceResult()
    if not isinstance(data, list):
        raise malformed(PLATFORM, "data is not a list", response)
    trends: list[Trend] = []
    seen: set[str] = set()
    for entry in data[: req.max_results]:
        if not isinstance(entry, dict):
            continue
        name = clip(str(entry.get("trend_name") or ""), 255)
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        count = as_count(entry.get("tweet_count"))
        description = (
            f"Trending on X with {count:,} posts in the last 24 hours."
            if count
            else "Trending on X."
        )
        trends.append(
            Trend(
                id=stable_id(PLATFORM, f"{woeid}:{name.lower()}"),
                platform=PLATFORM,
                topic=name,
                title=name,
                description=description,
                engagement_metrics=EngagementMetrics.of(views=count),
                timestamp=req.now.astimezone(UTC),
                url=f"https://x.com/search?q={quote(name, safe='')}",
                tags=[name.lstrip("#")] if name.startswith("#") and len(name) > 1 else [],
            )
        )
    return SourceResult(trends=trends)
