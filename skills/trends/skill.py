"""`skill_fetch_trends`: the specification's Trend Fetcher API over YouTube, X, TikTok and feeds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from core.errors import (
    ErrorCategory,
    OperationError,
    TransientError,
    UnknownError,
)
from events.trend import Trend
from skills.base import skill
from skills.context import SkillContext
from skills.trends import feed, tiktok, twitter, youtube
from skills.trends.common import SourceEnv, SourceRequest, SourceResult, interleave, scrub
from skills.trends.models import FetchTrendsInput, FetchTrendsOutput, SourceError, TrendsMetadata

log = logging.getLogger("chimera.skills.trends")

Source = Callable[[SourceRequest, SourceEnv], Awaitable[SourceResult]]
SOURCES: dict[str, Source] = {
    "youtube": youtube.fetch,
    "twitter": twitter.fetch,
    "tiktok": tiktok.fetch,
    "feed": feed.fetch,
}


async def _run(name: str, req: SourceRequest, env: SourceEnv) -> SourceResult | OperationError:
    try:
        return await SOURCES[name](req, env)
    except OperationError as exc:
        exc.details.setdefault("platform", name)
        return exc
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug in a source must not hide the other platforms' trends
        log.exception("trend source %s failed unexpectedly", name)
        return UnknownError(
            f"{name}: {type(exc).__name__}: {scrub(str(exc), env.secrets())}",
            code="UNEXPECTED_ERROR",
            details={"platform": name},
        )


def _all_failed(failures: list[OperationError]) -> OperationError:
    """One error for a call where every platform failed (the skill's `error`)."""
    if len(failures) == 1:
        return failures[0]
    listed = [e.info.model_dump(mode="json") for e in failures]
    summary = "; ".join(f"{e.details.get('platform', '?')}: {e.code}" for e in failures)
    if all(e.category is ErrorCategory.TRANSIENT for e in failures):
        waits = [e.retry_after for e in failures if e.retry_after is not None]
        return TransientError(
            f"every platform failed: {summary}",
            code="ALL_PLATFORMS_FAILED",
            details={"errors": listed},
            retry_after=min(waits, default=None),
        )
    worst = next(e for e in failures if e.category is not ErrorCategory.TRANSIENT)
    return type(worst)(
        f"every platform failed: {summary}", code=worst.code, details={"errors": listed}
    )


@skill("skill_fetch_trends")
async def fetch_trends(data: FetchTrendsInput, ctx: SkillContext) -> FetchTrendsOutput:
    """Fetch trending topics from YouTube, X (twitter), TikTok and feeds, with velocity.

    Platforms are queried concurrently. When some fail and others answer, the call succeeds
    with the answering platforms' trends and lists the failures in `errors`; when all fail, it
    fails with an error whose details list each platform's error (transient only if all were).
    Velocity (views gained per hour) needs the snapshot store in the context; without it, 0.
    Requests are paced by `ctx.limiter` when the caller gives one.
    """
    settings = ctx.settings.trends
    now = datetime.now(UTC)
    env = SourceEnv(
        http=ctx.http, settings=settings, limiter=ctx.limiter, untrusted_http=ctx.untrusted
    )
    req = SourceRequest(
        categories=data.categories,
        time_range=data.time_range,
        max_results=data.max_results,
        now=now,
        region_code=data.region_code,
        woeid=data.woeid,
        feed_urls=data.feed_urls,
    )

    outcomes = await asyncio.gather(*(_run(p, req, env) for p in data.platforms))
    lists: list[list[Trend]] = []
    errors: list[SourceError] = []
    failures: list[OperationError] = []
    for platform, outcome in zip(data.platforms, outcomes, strict=True):
        if isinstance(outcome, OperationError):
            failures.append(outcome)
            errors.append(SourceError(platform=platform, error=outcome.info))
        else:
            lists.append(outcome.trends)
            errors.extend(outcome.errors)
    if len(failures) == len(data.platforms):
        raise _all_failed(failures)

    trends: list[Trend] = []
    seen: set[str] = set()
    for trend in interleave(lists):
        if trend.id not in seen:
            seen.add(trend.id)
            trends.append(trend)
    trends = trends[: data.max_results]
    if ctx.snapshots is not None and trends:
        try:
            trends = await ctx.snapshots.apply_velocity(
                trends, now, retention=timedelta(days=settings.trends_snapshot_retention_days)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # velocity is a bonus: keep the trends, say what failed
            log.warning("trend snapshots not recorded: %s", type(exc).__name__, exc_info=True)
            errors.append(
                SourceError(
                    platform="velocity",
                    error=TransientError(
                        f"snapshots not recorded, velocity left at 0: {type(exc).__name__}",
                        code="SNAPSHOTS_UNAVAILABLE",
                    ).info,
                )
            )
    for failure in failures:
        log.warning(
            "trend platform %s failed (%s): %s",
            failure.details.get("platform"),
            failure.code,
            failure.message,
        )
    return FetchTrendsOutput(
        success=True,
        trends=trends,
        metadata=TrendsMetadata(
            total_results=len(trends), fetch_time=now, platforms_queried=list(data.platforms)
        ),
        errors=errors,
    )
