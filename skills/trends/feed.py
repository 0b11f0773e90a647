"""Feeds as a trend source: RSS, RDF, Atom, JSON Feed and JSON lines; the offline default.

A feed is an http(s) URL or a local file, read up to `trends_feed_max_bytes`. Every feed URL,
configured or given in the input, is fetched through the SSRF guard (`ctx.untrusted`,
`skills.net.http`): the host name is resolved and refused if any address is internal, every
redirect hop is checked the same way, and the connection goes to the checked address. A feed
server is a third party even when an operator configured its URL. Internal feeds are reached by
allowlisting them (`CHIMERA_SSRF_ALLOWED_HOSTS`, `host` or `host:port`). Configured local paths
(`CHIMERA_TRENDS_FEED_URLS`, default: the bundled `samples/sample_feed.jsonl`) are trusted; a
local path given in the skill's input must lie inside one of `CHIMERA_TRENDS_FEED_ROOTS`, so an
input cannot read arbitrary files.

The documents are read by `skills.trends.feedformats` (feedparser behind the safe-XML guard,
which refuses entity declarations and external entities; see there for what is understood).

Items without a publication date count as current; items published before the request's time
range are dropped; with categories, only items whose tags or topic match one are kept; items
without a title or an http(s) link are dropped. Every item gets platform "feed", and its
thumbnail (`media:thumbnail`, JSON Feed `image`, ...) becomes the trend's `thumbnail_url`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path
from typing import Final

import httpx

from core.errors import OperationError, PermanentError, TransientError, ValidationError
from events.trend import EngagementMetrics, Trend
from skills.http import request_error
from skills.net.guard import URLRefused
from skills.trends.common import (
    SourceEnv,
    SourceRequest,
    SourceResult,
    clip,
    interleave,
    redact_url,
    retry_after,
    stable_id,
)
from skills.trends.feedformats import FeedInvalid, FeedItem, parse_feed
from skills.trends.models import SourceError

PLATFORM: Final = "feed"


# --- Reading ----------------------------------------------------------------------------------
def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _label(source: str) -> str:
    return redact_url(source) if _is_url(source) else source


def local_path(source: str, roots: list[Path] | None) -> Path:
    """The file a local source names; with `roots`, it must lie inside one of them."""
    if "://" in source and not source.lower().startswith("file://"):
        raise ValidationError(
            f"unsupported feed source scheme: {source.split('://')[0]}",
            code="FEED_SOURCE_INVALID",
            details={"source": source},
        )
    raw = source[len("file://") :] if source.lower().startswith("file://") else source
    path = Path(raw).expanduser().resolve()
    if roots is not None and not any(path.is_relative_to(r.resolve()) for r in roots):
        raise ValidationError(
            "local feed path is outside the configured feed roots",
            code="FEED_PATH_NOT_ALLOWED",
            details={"source": source},
        )
    return path


def _read_file(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise PermanentError(
            f"feed larger than {limit} bytes", code="FEED_TOO_LARGE", details={"source": str(path)}
        )
    return data


async def read_source(source: str, env: SourceEnv, *, trusted: bool) -> bytes:
    """The bytes of a feed, from http(s) or a local file, at most the configured size."""
    limit = env.settings.trends_feed_max_bytes
    if not _is_url(source):
        path = local_path(source, None if trusted else env.settings.trends_feed_roots)
        try:
            return await asyncio.to_thread(_read_file, path, limit)
        except FileNotFoundError:
            raise PermanentError(
                "feed file not found", code="FEED_NOT_FOUND", details={"source": source}
            ) from None
        except OSError as exc:
            raise PermanentError(
                f"feed file unreadable: {type(exc).__name__}",
                code="FEED_UNREADABLE",
                details={"source": source},
            ) from None
    label = _label(source)
    if env.untrusted_http is None:
        raise PermanentError(
            "no guarded HTTP client for feed URLs",
            code="FEED_NOT_CONFIGURED",
            details={"source": label},
        )
    try:
        async with env.untrusted_http.stream(
            "GET",
            source,
            timeout=env.timeout,
            headers={
                "Accept": "application/rss+xml, application/atom+xml, "
                "application/x-ndjson, application/json;q=0.9, */*;q=0.5"
            },
        ) as response:
            if response.status_code != 200:
                details = {"source": label, "status": response.status_code}
                if response.status_code == 429 or response.status_code >= 500:
                    raise TransientError(
                        f"feed unavailable ({response.status_code})",
                        code="FEED_UNAVAILABLE",
                        details=details,
                        retry_after=retry_after(response),
                    )
                raise PermanentError(
                    f"feed refused ({response.status_code})",
                    code="FEED_UNAVAILABLE",
                    details=details,
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PermanentError(
                        f"feed larger than {limit} bytes",
                        code="FEED_TOO_LARGE",
                        details={"source": label},
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except URLRefused as exc:
        raise ValidationError(
            f"feed URL refused: {exc.reason}",
            code="FEED_HOST_NOT_ALLOWED",
            details={"source": label, "reason": exc.reason},
        ) from None
    except httpx.InvalidURL:
        raise ValidationError(
            "feed URL is not valid", code="FEED_SOURCE_INVALID", details={"source": label}
        ) from None
    except httpx.RequestError as exc:  # also while reading the body
        raise request_error(
            exc, platform=PLATFORM, step="fetch", details={"source": label}
        ) from exc


# --- Source -----------------------------------------------------------------------------------
def _matches(item: FeedItem, categories: list[str]) -> bool:
    if not categories:
        return True
    wanted = {c.casefold() for c in categories}
    labels = {c.casefold() for c in item.categories}
    if item.topic:
        labels.add(item.topic.casefold())
    return bool(wanted & labels) or any(w in (item.topic or "").casefold() for w in wanted)


def to_trends(items: list[FeedItem], req: SourceRequest) -> list[Trend]:
    """Trends from feed items: dated within the range, matching the categories, http(s) only."""
    trends: list[Trend] = []
    seen: set[str] = set()
    for item in items:
        if item.published is not None and item.published < req.since:
            continue
        if not _matches(item, req.categories):
            continue
        link = item.link.strip()
        title = clip(item.title, 500)
        if not title or not link.lower().startswith(("http://", "https://")):
            continue
        trend_id = stable_id(PLATFORM, item.key.strip() or link)
        if trend_id in seen:
            continue
        seen.add(trend_id)
        tags = list(dict.fromkeys(clip(c, 100) for c in item.categories if c.strip()))[:15]
        trends.append(
            Trend(
                id=trend_id,
                platform=PLATFORM,
                topic=clip(item.topic or (tags[0] if tags else title), 255),
                title=title,
                description=clip(item.description, 2000),
                engagement_metrics=EngagementMetrics.of(
                    views=item.views, likes=item.likes, comments=item.comments, shares=item.shares
                ),
                timestamp=req.now.astimezone(UTC),
                url=link,
                tags=tags,
                thumbnail_url=item.thumbnail,
            )
        )
    return trends


async def _one(source: str, req: SourceRequest, env: SourceEnv, trusted: bool) -> list[Trend]:
    data = await read_source(source, env, trusted=trusted)
    try:
        items = parse_feed(data, base=source if _is_url(source) else "")
    except FeedInvalid as exc:
        exc.details.setdefault("source", _label(source))
        raise
    return to_trends(items, req)


async def fetch(req: SourceRequest, env: SourceEnv) -> SourceResult:
    """Trends from every feed of the request (or the configured ones), interleaved by rank."""
    trusted = req.feed_urls is None
    sources = req.feed_urls if req.feed_urls is not None else env.settings.trends_feed_urls
    if not sources:
        raise PermanentError(
            "no feed configured: set CHIMERA_TRENDS_FEED_URLS",
            code="FEED_NOT_CONFIGURED",
            details={"platform": PLATFORM},
        )
    outcomes = await asyncio.gather(
        *(_one(s, req, env, trusted) for s in sources), return_exceptions=True
    )
    result = SourceResult()
    lists: list[list[Trend]] = []
    failures: list[OperationError] = []
    for source, outcome in zip(sources, outcomes, strict=True):
        if isinstance(outcome, OperationError):
            failures.append(outcome)
            result.errors.append(
                SourceError(platform=PLATFORM, source=_label(source), error=outcome.info)
            )
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            lists.append(outcome)
    if failures and not lists:
        first = failures[0]
        if len(failures) > 1:
            first.details["errors"] = [e.info.model_dump(mode="json") for e in failures]
        raise first
    seen: set[str] = set()
    for trend in interleave(lists):
        if trend.id not in seen:
            seen.add(trend.id)
            result.trends.append(trend)
    return result
