"""Feeds as a trend source: RSS 2.0, RSS 1.0 (RDF), Atom, and JSON lines; the offline default.

A feed is an http(s) URL (read through the shared client, at most `trends_feed_max_bytes`) or a
local file. Configured feeds (`CHIMERA_TRENDS_FEED_URLS`, default: the bundled
`samples/sample_feed.jsonl`) are trusted; a local path given in the skill's input must lie
inside one of `CHIMERA_TRENDS_FEED_ROOTS`, so an input cannot read arbitrary files, and an
input URL may not name localhost or a private/link-local address literally (unless
`CHIMERA_TRENDS_FEED_ALLOW_PRIVATE_HOSTS` is set). Host names are not resolved: a name that
resolves to a private address is stopped only by the deployment's egress policy.

XML is parsed by `skills.trends.safexml`, which refuses DOCTYPE and entity declarations.
Counts come from Media RSS (`media:statistics views`, `media:starRating count`, as in YouTube's
channel feeds) and `slash:comments` when present; JSON lines carry them directly.

JSON lines format, one object per line (unknown keys are ignored, blank lines skipped):

    {"id": "...", "title": "...", "url": "https://...", "description": "...",
     "topic": "...", "tags": ["..."], "published": "2026-11-25T08:00:00Z",
     "views": 0, "likes": 0, "comments": 0, "shares": 0}

`title` and `url` are required. Items without a publication date count as current; items
published before the request's time range are dropped; with categories, only items whose tags
or topic match one are kept. Every item gets platform "feed".
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final
from xml.etree.ElementTree import Element

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.errors import OperationError, PermanentError, TransientError, ValidationError
from events.trend import EngagementMetrics, Trend
from skills.http import request_error
from skills.text import parse_time
from skills.trends import safexml
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
from skills.trends.models import SourceError

PLATFORM: Final = "feed"
ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
SLASH = "{http://purl.org/rss/1.0/modules/slash/}"
TAG_RE = re.compile(r"<[^>]*>")


@dataclass
class FeedItem:
    """One entry of a feed, whatever its format."""

    key: str
    title: str
    link: str
    description: str = ""
    published: datetime | None = None
    categories: list[str] = field(default_factory=list)
    topic: str | None = None
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0


class FeedLine(BaseModel):
    """One JSON line of a feed."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    title: str = Field(min_length=1)
    url: str = Field(min_length=1, validation_alias=AliasChoices("url", "link"))
    description: str = ""
    topic: str | None = None
    tags: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("tags", "categories")
    )
    published: datetime | None = None
    views: int = Field(default=0, ge=0)
    likes: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    shares: int = Field(default=0, ge=0)


class FeedInvalid(PermanentError):
    """The feed could not be read as RSS, Atom or JSON lines (someone must fix the feed)."""

    default_code = "FEED_INVALID"


# --- Parsing ----------------------------------------------------------------------------------
def parse_feed(data: bytes) -> list[FeedItem]:
    """Items of an RSS 2.0, RSS 1.0, Atom or JSON lines document (format detected)."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        try:
            root = safexml.parse(data)
        except safexml.UnsafeXml as exc:
            raise FeedInvalid(f"feed refused: {exc}") from None
        if root.tag == "rss":
            return parse_rss(root)
        if root.tag == f"{ATOM}feed":
            return parse_atom(root)
        if root.tag == f"{RDF}RDF":
            return parse_rss1(root)
        raise FeedInvalid(f"unknown XML feed type <{root.tag}>")
    if head in (b"{", b"["):
        return parse_jsonl(data)
    raise FeedInvalid("not a feed: expected RSS, Atom or JSON lines")


def parse_jsonl(data: bytes) -> list[FeedItem]:
    """Items of a JSON lines feed (a single JSON array is accepted too)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedInvalid("JSON lines feed is not UTF-8") from None
    stripped = text.strip()
    rows: list[Any]
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise FeedInvalid(f"invalid JSON feed: {exc.msg} at line {exc.lineno}") from None
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FeedInvalid(f"invalid JSON on line {number}: {exc.msg}") from None
    items: list[FeedItem] = []
    for number, row in enumerate(rows, 1):
        try:
            entry = FeedLine.model_validate(row)
        except PydanticValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "line" for e in exc.errors())
            raise FeedInvalid(f"invalid feed entry {number}: {fields}") from None
        published = entry.published
        if published is not None and published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        items.append(
            FeedItem(
                key=str(entry.id) if entry.id not in (None, "") else entry.url,
                title=entry.title,
                link=entry.url,
                description=entry.description,
                published=published,
                categories=entry.tags,
                topic=entry.topic,
                views=entry.views,
                likes=entry.likes,
                comments=entry.comments,
                shares=entry.shares,
            )
        )
    return items


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _plain(markup: str) -> str:
    return " ".join(html.unescape(TAG_RE.sub(" ", markup)).split())


def _date(value: str) -> datetime | None:
    """ISO 8601 (Atom, JSON feeds) or RFC 822 (RSS) dates; naive ones are UTC."""
    value = value.strip()
    if not value:
        return None
    iso = parse_time(value)
    if iso is not None:
        return iso
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: str | None) -> int:
    try:
        return max(int(float(value or 0)), 0)
    except ValueError:
        return 0


def _media_counts(entry: Element) -> tuple[int, int]:
    stats = entry.find(f".//{MEDIA}statistics")
    rating = entry.find(f".//{MEDIA}starRating")
    return (
        _int(stats.get("views")) if stats is not None else 0,
        _int(rating.get("count")) if rating is not None else 0,
    )


def parse_rss(root: Element) -> list[FeedItem]:
    """Items of an RSS 2.0 document."""
    channel = root.find("channel")
    if channel is None:
        raise FeedInvalid("RSS without a channel")
    fallback_link = _text(channel.find("link"))
    items: list[FeedItem] = []
    for item in channel.findall("item"):
        title = _plain(_text(item.find("title")))
        link = _text(item.find("link")) or fallback_link
        guid = _text(item.find("guid"))
        views, likes = _media_counts(item)
        description = _plain(_text(item.find("description")))
        if not title:
            title = clip(description, 100)
        items.append(
            FeedItem(
                key=guid or link or title,
                title=title,
                link=link,
                description=description,
                published=_date(_text(item.find("pubDate")) or _text(item.find(f"{DC}date"))),
                categories=[c for c in (_text(e) for e in item.findall("category")) if c],
                views=views,
                likes=likes,
                comments=_int(_text(item.find(f"{SLASH}comments"))),
            )
        )
    return items


def parse_rss1(root: Element) -> list[FeedItem]:
    """Items of an RSS 1.0 (RDF) document."""
    items: list[FeedItem] = []
    for item in root.findall(f"{RSS1}item"):
        link = _text(item.find(f"{RSS1}link"))
        title = _plain(_text(item.find(f"{RSS1}title")))
        items.append(
            FeedItem(
                key=item.get(f"{RDF}about") or link or title,
                title=title,
                link=link,
                description=_plain(_text(item.find(f"{RSS1}description"))),
                published=_date(_text(item.find(f"{DC}date"))),
                categories=[c for c in (_text(e) for e in item.findall(f"{DC}subject")) if c],
            )
        )
    return items


def _atom_link(entry: Element) -> str:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href", "")
    return links[0].get("href", "") if links else ""


def parse_atom(root: Element) -> list[FeedItem]:
    """Entries of an Atom document."""
    items: list[FeedItem] = []
    for entry in root.findall(f"{ATOM}entry"):
        link = _atom_link(entry)
        title = _plain(_text(entry.find(f"{ATOM}title")))
        summary = entry.find(f"{ATOM}summary")
        if summary is None:
            summary = entry.find(f"{ATOM}content")
        if summary is None:
            summary = entry.find(f".//{MEDIA}description")
        views, likes = _media_counts(entry)
        published = _text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated"))
        items.append(
            FeedItem(
                key=_text(entry.find(f"{ATOM}id")) or link or title,
                title=title,
                link=link,
                description=_plain(_text(summary)),
                published=_date(published),
                categories=[
                    c.get("term", "") for c in entry.findall(f"{ATOM}category") if c.get("term")
                ],
                views=views,
                likes=likes,
            )
        )
    return items


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


def refuse_private_host(source: str) -> None:
    """Refuse an input feed URL naming localhost or a private, loopback, link-local, multicast
    or reserved address literally (IPv4-mapped IPv6 included). Host names are not resolved
    here: that check belongs to the egress proxy or network policy (see the module notes)."""
    try:
        host = (httpx.URL(source).host or "").lower().rstrip(".")
    except httpx.InvalidURL:
        raise ValidationError(
            "feed URL is not valid", code="FEED_SOURCE_INVALID", details={"source": _label(source)}
        ) from None
    refused = host in ("", "localhost") or host.endswith(".localhost")
    if not refused:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        refused = address is not None and not address.is_global
    if refused:
        raise ValidationError(
            "feed URL points at a local or private address",
            code="FEED_HOST_NOT_ALLOWED",
            details={"source": _label(source)},
        )


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
    if not trusted and not env.settings.trends_feed_allow_private_hosts:
        refuse_private_host(source)
    label = _label(source)
    try:
        async with env.http.stream(
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
            )
        )
    return trends


async def _one(source: str, req: SourceRequest, env: SourceEnv, trusted: bool) -> list[Trend]:
    data = await read_source(source, env, trusted=trusted)
    try:
        items = parse_feed(data)
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
