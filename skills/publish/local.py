"""The local publisher: the embedded default, no network.

It copies the video into its folder (`videos/`) with a poster frame beside it
(`skills.media.poster`; a video ffmpeg cannot read gets none), keeps `index.json` with every
publication and regenerates a static `index.html`: a grid of cards, each with its player.
It is idempotent on the publication id: publishing the same id again returns the first result
and copies nothing.
Every file is written atomically (temporary file in the same folder, fsync, `os.replace`), and
a file lock (`.lock`) serialises publishers across threads and processes. Temporary files a
killed publisher left are removed when a process first uses the folder (`skills.files`).

The page is Chimera's only world-readable output: the folder and `videos/` are 0755, the page,
the videos and their posters 0644; `index.json` and `.lock` stay owner-only like everything else
(`core.private`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import html
import json
import mimetypes
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.errors import PermanentError, ValidationError
from core.private import PRIVATE_FILE, public_dir, public_file
from skills.files import copy_atomic, sweep_once, write_text_atomic
from skills.media.poster import ensure_poster
from skills.publish.models import (
    EngagementCounts,
    PublishContentInput,
    PublishResult,
    ReconcileQuery,
)
from skills.text import parse_time

INDEX_VERSION = 1
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")


def local_post_id(publication_id: str) -> str:
    """The local post id of a publication id (stable, safe in file names and anchors)."""
    return "local-" + hashlib.sha256(publication_id.encode()).hexdigest()[:20]


class LocalPublisher:
    """Publishes into a folder with a static page; see the module docstring."""

    platform = "local"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # --- Publisher protocol -------------------------------------------------------------------
    async def publish(self, request: PublishContentInput) -> PublishResult:
        return await asyncio.to_thread(self._publish, request)

    async def fetch_engagement(self, post_id: str) -> EngagementCounts:
        item = await asyncio.to_thread(self._find, "post_id", post_id)
        if item is None:
            raise PermanentError(
                f"local: no publication with post id {post_id}",
                code="POST_NOT_FOUND",
                details={"platform": "local", "post_id": post_id},
            )
        return EngagementCounts(
            views=int(item.get("views", 0)),
            likes=int(item.get("likes", 0)),
            comments=int(item.get("comments", 0)),
            shares=int(item.get("shares", 0)),
        )

    async def find_existing(self, query: ReconcileQuery) -> PublishResult | None:
        item = await asyncio.to_thread(self._find, "publication_id", query.publication_id)
        return None if item is None else self._result(item, reused=True)

    # --- Paths --------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.folder / "index.json"

    @property
    def page_path(self) -> Path:
        return self.folder / "index.html"

    def url_of(self, post_id: str) -> str:
        return f"{self.page_path.resolve().as_uri()}#{post_id}"

    # --- Work (in a thread, under the lock) -------------------------------------------------------
    def _publish(self, request: PublishContentInput) -> PublishResult:
        with self._locked():
            index = self._load()
            for item in index["items"]:
                if item["publication_id"] == request.publication_id:
                    return self._result(item, reused=True)
            source = request.video_path
            if not source.is_file():
                raise ValidationError(
                    "video file not found",
                    code="VIDEO_NOT_FOUND",
                    details={"video_path": str(source)},
                )
            post_id = local_post_id(request.publication_id)
            suffix = source.suffix.lower() if _SUFFIX.match(source.suffix.lower()) else ".mp4"
            video_name = f"{post_id}{suffix}"
            videos = public_dir(self.folder / "videos")
            copy_atomic(source, videos / video_name)
            public_file(videos / video_name)
            try:
                poster_file = ensure_poster(videos / video_name)
                public_file(poster_file)  # shown by the page, like the video
                poster: str | None = f"videos/{poster_file.name}"
            except PermanentError:
                poster = None  # not a video ffmpeg can read: the page shows the player only

            now = datetime.now(UTC)
            scheduled = request.scheduled_at
            is_scheduled = scheduled is not None and scheduled > now
            item = {
                "publication_id": request.publication_id,
                "post_id": post_id,
                "title": request.title,
                "description": request.description,
                "tags": list(request.tags),
                "privacy": request.privacy,
                "made_for_kids": request.made_for_kids,
                "status": "scheduled" if is_scheduled else "published",
                "published_at": None if is_scheduled else now.isoformat(),
                "scheduled_at": scheduled.isoformat() if scheduled else None,
                "created_at": now.isoformat(),
                "video": f"videos/{video_name}",
                "poster": poster,
                "size": (videos / video_name).stat().st_size,
                "views": 0,
                "likes": 0,
                "comments": 0,
                "shares": 0,
            }
            index["items"].append(item)
            write_text_atomic(self.index_path, json.dumps(index, indent=2, ensure_ascii=False))
            write_text_atomic(self.page_path, render_page(index["items"]))
            public_file(self.page_path)
            return self._result(item, reused=False)

    def _find(self, key: str, value: str) -> dict[str, Any] | None:
        with self._locked():
            for item in self._load()["items"]:
                if item.get(key) == value:
                    return dict(item)
        return None

    def _result(self, item: dict[str, Any], *, reused: bool) -> PublishResult:
        return PublishResult(
            post_id=item["post_id"],
            url=self.url_of(item["post_id"]),
            status=item["status"],
            published_at=parse_time(item.get("published_at")),
            scheduled_at=parse_time(item.get("scheduled_at")),
            reused=reused,
        )

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.index_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": INDEX_VERSION, "items": []}
        try:
            index = json.loads(raw)
            if not isinstance(index, dict) or not isinstance(index.get("items"), list):
                raise TypeError("not an index")
        except (ValueError, TypeError) as exc:
            raise PermanentError(
                "local publish index is unreadable",
                code="LOCAL_INDEX_CORRUPT",
                details={"path": str(self.index_path)},
            ) from exc
        return index

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        public_dir(self.folder)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        with open(fd, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                sweep_once(self.folder)
                sweep_once(self.folder / "videos")
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f8;color:#1d2230}
header{background:#1d2230;color:#fff;padding:1.2rem 2rem}
header h1{margin:0;font-size:1.5rem} header p{margin:.2rem 0 0;color:#c3c9d6}
main{max-width:78rem;margin:0 auto;padding:1.5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:1.2rem}
article{background:#fff;border-radius:10px;overflow:hidden;
box-shadow:0 1px 3px rgba(16,24,40,.1);display:flex;flex-direction:column}
video{width:100%;aspect-ratio:9/16;background:#000;display:block;object-fit:contain}
.body{padding:.7rem .9rem 1rem}
h2{font-size:1.02rem;margin:0 0 .3rem}
.meta{color:#6b7280;font-size:.82rem;margin:0 0 .4rem}
.description{font-size:.9rem;margin:.3rem 0;overflow-wrap:anywhere}
.tags{list-style:none;padding:0;margin:.4rem 0 0;display:flex;flex-wrap:wrap;gap:.3rem}
.tags li{background:#e8eefc;color:#2d4f93;border-radius:999px;padding:0 .5rem;font-size:.8rem}
"""


def render_page(items: list[dict[str, Any]]) -> str:
    """The static page: a grid of every publication, newest first; everything is escaped."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Chimera: published videos</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<header><h1>Published videos</h1>",
        f"<p>{len(items)} publication{'s' if len(items) != 1 else ''}</p></header>",
        '<main class="grid">',
    ]
    ordered = sorted(items, key=lambda item: item.get("created_at") or "", reverse=True)
    for item in ordered:
        video = str(item.get("video", ""))
        mime = mimetypes.guess_type(video)[0] or "video/mp4"
        src = quote(video)
        poster = f' poster="{esc(quote(str(item["poster"])))}"' if item.get("poster") else ""
        if item.get("published_at"):
            when = (
                f'Published <time datetime="{esc(item["published_at"])}">'
                f"{esc(item['published_at'][:16].replace('T', ' '))}</time>"
            )
        else:
            scheduled = str(item.get("scheduled_at") or "")
            when = f'Scheduled for <time datetime="{esc(scheduled)}">{esc(scheduled)}</time>'
        description = "<br>\n".join(esc(line) for line in str(item["description"]).splitlines())
        tags = "".join(f"<li>#{esc(str(tag))}</li>" for tag in item.get("tags", []))
        parts += [
            f'<article id="{esc(item["post_id"])}">',
            f'<video controls preload="metadata"{poster}>'
            f'<source src="{esc(src)}" type="{esc(mime)}"></video>',
            '<div class="body">',
            f"<h2>{esc(item['title'])}</h2>",
            f'<p class="meta">{when} &middot; {esc(str(item.get("privacy", "")))}'
            f"{' &middot; made for kids' if item.get('made_for_kids') else ''}</p>",
            f'<p class="description">{description}</p>' if description else "",
            f'<ul class="tags">{tags}</ul>' if tags else "",
            "</div>",
            "</article>",
        ]
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(part for part in parts if part != "") + "\n"
