"""Feed documents as publishers write them, read into `FeedItem`s.

XML feeds are read by feedparser (the library built for the formats in the wild: RSS 0.90,
0.91, 0.92, 1.0 (RDF) and 2.0, Atom 0.3 and 1.0, Dublin Core, Media RSS, iTunes, slash and
thread modules, base64 and escaped content, broken encodings) behind the safe-XML guard:

1. the bytes are decoded the way feedparser decodes them (BOM, XML declaration, fallbacks) and
   re-encoded as UTF-8, so the guard and the parser read the same characters;
2. `skills.trends.safexml.scan` refuses entity declarations and external entities (a DOCTYPE
   without them is accepted; external DTDs are never read);
3. feedparser parses the document from memory (a stream, so it never opens a URL or a file).
   A document that is not well-formed after its root element started (a bare `&`) is read by
   feedparser's lenient parser; when nothing usable comes out, it is refused as not well-formed.

What an item becomes:

* title: `title` (Atom, RSS, `dc:title`), tags removed; without one, the start of the summary;
* link: the alternate link; an RSS `guid` that is a permalink (`isPermaLink` absent or true)
  when there is no `link`; the channel's link when the item has neither; relative links are
  resolved against `xml:base` and the feed's own URL, and so are thumbnails;
* date: published, else updated (`dc:date`, Atom 0.3 `issued`/`modified`), else created;
* description: the summary (escaped HTML unescaped, base64 decoded), else the content, as text;
* thumbnail: `media:thumbnail` (the widest), else `media:content` that is an image, else an
  image enclosure, else `itunes:image`; http(s) only;
* counts: views from `media:statistics views`, likes from `media:starRating count` (as in
  YouTube's channel feeds) or else `media:statistics favorites`, comments from
  `slash:comments` or `thr:total`.

JSON feeds: JSON Feed 1.0 and 1.1 (`version` `https://jsonfeed.org/version/1[.1]`), and
Chimera's JSON lines (one object per line, or one array), which carry the counts directly:

    {"id": "...", "title": "...", "url": "https://...", "description": "...",
     "topic": "...", "tags": ["..."], "published": "2026-11-25T08:00:00Z",
     "thumbnail": "https://...", "views": 0, "likes": 0, "comments": 0, "shares": 0}
"""

from __future__ import annotations

import calendar
import html
import io
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urljoin

import feedparser
from feedparser.encodings import convert_to_utf8
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.errors import PermanentError
from skills.trends import safexml
from skills.trends.common import as_count, clip

JSON_FEED_VERSION: Final = re.compile(r"^https?://jsonfeed\.org/version/1(\.\d+)?/?$")
TAG_RE: Final = re.compile(r"<[^>]*>")
HIDDEN_RE: Final = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
SPACE_BEFORE_PUNCTUATION_RE: Final = re.compile(r"\s+(?=[.,;:!?](\s|$))")

_BOMS: Final = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_ADDED_DECLARATION: Final = b"<?xml version='1.0' encoding='utf-8'?>\n"

#: A parsed feedparser object (`FeedParserDict`) or one of its parts, read through the helpers.
Node = Mapping[str, object]


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
    thumbnail: str | None = None
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0


class FeedInvalid(PermanentError):
    """The feed could not be read as RSS, Atom, JSON Feed or JSON lines (someone must fix the
    feed)."""

    default_code = "FEED_INVALID"


def parse_feed(data: bytes, base: str = "") -> list[FeedItem]:
    """Items of an XML feed, a JSON Feed or a JSON lines document (format detected); relative
    links and thumbnails are resolved against `base`, the feed's own URL, when given."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        return parse_json(data, base)
    if head == b"<" or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return parse_xml(data, base)
    raise FeedInvalid("not a feed: expected RSS, Atom, JSON Feed or JSON lines")


# --- Plain values ------------------------------------------------------------------------------
def plain(markup: str) -> str:
    """Text of an HTML fragment: scripts and styles dropped, tags removed, entities decoded,
    whitespace collapsed (and none left before a closing punctuation mark)."""
    text = " ".join(html.unescape(TAG_RE.sub(" ", HIDDEN_RE.sub(" ", markup))).split())
    return SPACE_BEFORE_PUNCTUATION_RE.sub("", text)


def _link(value: str, base: str) -> str:
    """`value` resolved against `base` (when both are given); other schemes are kept as they
    are, for the caller to refuse."""
    return urljoin(base, value) if base and value else value


def _web_url(value: object, base: str = "") -> str | None:
    text = _link(value.strip(), base) if isinstance(value, str) else ""
    return text if text.lower().startswith(("http://", "https://")) else None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# --- XML through feedparser --------------------------------------------------------------------
def _str(node: Node, key: str) -> str:
    value = node.get(key)
    return value.strip() if isinstance(value, str) else ""


def _node(node: Node, key: str) -> Node:
    value = node.get(key)
    return value if isinstance(value, Mapping) else {}


def _nodes(node: Node, key: str) -> list[Node]:
    value = node.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _when(entry: Node) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):  # feedparser's dates are UTC
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _is_image(node: Node) -> bool:
    return _str(node, "medium") == "image" or _str(node, "type").startswith("image/")


def _thumbnail(entry: Node, base: str) -> str | None:
    thumbnails = sorted(
        _nodes(entry, "media_thumbnail"), key=lambda t: as_count(t.get("width")), reverse=True
    )
    candidates = [t.get("url") for t in thumbnails]
    candidates += [c.get("url") for c in _nodes(entry, "media_content") if _is_image(c)]
    candidates += [e.get("href") for e in _nodes(entry, "enclosures") if _is_image(e)]
    candidates.append(_node(entry, "image").get("href"))  # itunes:image
    return next((url for c in candidates if (url := _web_url(c, base))), None)


def _description(entry: Node) -> str:
    summary = plain(_str(entry, "summary"))
    if summary:
        return summary
    return next((text for c in _nodes(entry, "content") if (text := plain(_str(c, "value")))), "")


def _entry_base(entry: Node, base: str) -> str:
    """The base URI in force for the entry: its `xml:base` (feedparser records it with each
    text construct) resolved against the feed's own URL."""
    detail = _node(entry, "title_detail") or _node(entry, "summary_detail")
    return _link(_str(detail, "base"), base) or base


def _entry(entry: Node, fallback_link: str, base: str) -> FeedItem:
    base = _entry_base(entry, base)
    link = _link(_str(entry, "link"), base) or fallback_link
    description = _description(entry)
    title = plain(_str(entry, "title")) or clip(description, 100)
    tags = [_str(t, "term") or _str(t, "label") for t in _nodes(entry, "tags")]
    return FeedItem(
        key=_str(entry, "id") or link or title,
        title=title,
        link=link,
        description=description,
        published=_when(entry),
        categories=[t for t in dict.fromkeys(tags) if t],
        thumbnail=_thumbnail(entry, base),
        views=as_count(_node(entry, "media_statistics").get("views")),
        likes=as_count(
            _node(entry, "media_starrating").get("count")
            or _node(entry, "media_statistics").get("favorites")
        ),
        comments=as_count(entry.get("slash_comments") or entry.get("thr_total")),
    )


def _as_utf8(data: bytes) -> bytes:
    """`data` decoded as feedparser decodes it, in UTF-8 (its declaration says so). feedparser
    puts a declaration line in front of a document without one; that line is taken off again,
    so the guard's line numbers are the document's."""
    utf8: bytes = convert_to_utf8({}, data, {})
    head = data[:64]
    for bom, codec in _BOMS:
        if head.startswith(bom):
            head_text = head[len(bom) :].decode(codec, "ignore")
            break
    else:
        head_text = head.decode("latin-1")
    if not head_text.startswith("<?xml"):
        utf8 = utf8.removeprefix(_ADDED_DECLARATION)
    return utf8


def parse_xml(data: bytes, base: str = "") -> list[FeedItem]:
    """Items of an RSS, RDF or Atom document, read by feedparser behind the safe-XML guard."""
    utf8 = _as_utf8(data)
    try:
        checked = safexml.scan(utf8)
    except safexml.UnsafeXml as exc:
        raise FeedInvalid(f"feed refused: {exc}") from None
    parsed: Node = feedparser.parse(io.BytesIO(utf8), sanitize_html=True)
    entries = _nodes(parsed, "entries")
    if not _str(parsed, "version") and not entries:
        raise FeedInvalid(f"unknown XML feed type <{checked.root}>")
    fallback_link = _link(_str(_node(parsed, "feed"), "link"), base)
    items = [_entry(e, fallback_link, base) for e in entries]
    if checked.error is not None:
        items = [i for i in items if i.title and i.link]
        if not items:
            raise FeedInvalid(checked.error)
    return items


# --- JSON Feed ---------------------------------------------------------------------------------
class JsonFeedItem(BaseModel):
    """One item of a JSON Feed 1.0/1.1 (`id` is required by the spec; a few omit it)."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary: str | None = None
    image: str | None = None
    banner_image: str | None = None
    date_published: datetime | None = None
    date_modified: datetime | None = None
    tags: list[str] = Field(default_factory=list)


class JsonFeed(BaseModel):
    """A JSON Feed document (https://jsonfeed.org/version/1.1)."""

    model_config = ConfigDict(extra="ignore")

    version: str = Field(pattern=JSON_FEED_VERSION.pattern)
    title: str = ""
    home_page_url: str | None = None
    items: list[JsonFeedItem]


def _json_feed_item(item: JsonFeedItem, home: str, base: str) -> FeedItem:
    description = plain(item.summary or "") or plain(item.content_text or "")
    description = description or plain(item.content_html or "")
    link = _web_url(item.url, base) or _web_url(item.external_url, base)
    link = link or _link(item.url or home, base)
    title = plain(item.title or "") or clip(description, 100)
    return FeedItem(
        key=str(item.id) if item.id not in (None, "") else link or title,
        title=title,
        link=link,
        description=description,
        published=_utc(item.date_published or item.date_modified),
        categories=[t for t in dict.fromkeys(item.tags) if t.strip()],
        thumbnail=_web_url(item.image, base) or _web_url(item.banner_image, base),
    )


def parse_json_feed(document: Mapping[str, object], base: str = "") -> list[FeedItem]:
    """Items of a JSON Feed 1.0 or 1.1 document."""
    try:
        feed = JsonFeed.model_validate(document)
    except PydanticValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "feed" for e in exc.errors())
        raise FeedInvalid(f"invalid JSON Feed: {fields}") from None
    return [_json_feed_item(item, feed.home_page_url or "", base) for item in feed.items]


# --- JSON lines --------------------------------------------------------------------------------
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
    thumbnail: str | None = Field(
        default=None, validation_alias=AliasChoices("thumbnail", "thumbnail_url", "image")
    )
    views: int = Field(default=0, ge=0)
    likes: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    shares: int = Field(default=0, ge=0)


def _json_lines(text: str) -> list[object]:
    rows: list[object] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise FeedInvalid(f"invalid JSON on line {number}: {exc.msg}") from None
    return rows


def parse_json(data: bytes, base: str = "") -> list[FeedItem]:
    """Items of a JSON Feed, or of JSON lines (a single JSON array is accepted too)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedInvalid("JSON feed is not UTF-8") from None
    try:
        whole: object = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("[") or exc.msg != "Extra data":
            raise FeedInvalid(f"invalid JSON feed: {exc.msg} at line {exc.lineno}") from None
        rows = _json_lines(text)  # several values: one per line
    else:
        if isinstance(whole, dict) and "items" in whole and "version" in whole:
            return parse_json_feed(whole, base)
        rows = list(whole) if isinstance(whole, list) else [whole]
    items: list[FeedItem] = []
    for number, row in enumerate(rows, 1):
        try:
            entry = FeedLine.model_validate(row)
        except PydanticValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "line" for e in exc.errors())
            raise FeedInvalid(f"invalid feed entry {number}: {fields}") from None
        items.append(
            FeedItem(
                key=str(entry.id) if entry.id not in (None, "") else entry.url,
                title=entry.title,
                link=_link(entry.url, base),
                description=entry.description,
                published=_utc(entry.published),
                categories=entry.tags,
                topic=entry.topic,
                thumbnail=_web_url(entry.thumbnail, base),
                views=entry.views,
                likes=entry.likes,
                comments=entry.comments,
                shares=entry.shares,
            )
        )
    return items
