"""A local folder of clips and images, chosen by keywords (the offline default).

Tags come from the file name's words (`city-night-neon.mp4` → city, night, neon), the folder
names on its path, and a sidecar JSON when there is one (`clip.mp4.json` or `clip.json`):

    {"tags": ["city", "night"], "licence": "CC0-1.0", "licence_url": "...",
     "author": "...", "author_url": "...", "url": "...", "source": "..."}

A folder-wide `library.json` with the same keys (and `files: {name: {...}}`) gives defaults.
A file with no licence anywhere is recorded with licence "unknown".
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

from skills.context import SkillContext
from skills.media.footage.models import (
    UNKNOWN,
    Asset,
    AssetKind,
    AssetRights,
    FootageQuery,
    tag_score,
)

log = logging.getLogger("chimera.skills.media.footage")

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def _sidecar(path: Path) -> dict[str, Any]:
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file() and candidate != path:
            try:
                data = json.loads(candidate.read_text())
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable sidecar %s: %s", candidate, exc)
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def _folder_defaults(root: Path) -> dict[str, Any]:
    index = root / "library.json"
    if not index.is_file():
        return {}
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", index, exc)
        return {}
    return data if isinstance(data, dict) else {}


def scan(root: Path) -> list[Asset]:
    """Every clip and image under `root`, with tags and rights."""
    if not root.is_dir():
        return []
    defaults = _folder_defaults(root)
    per_file = defaults.get("files") if isinstance(defaults.get("files"), dict) else {}
    found: list[Asset] = []
    for path in sorted(root.rglob("*")):
        suffix = path.suffix.lower()
        if not path.is_file() or path.name.startswith("."):
            continue
        kind: AssetKind
        if suffix in VIDEO_SUFFIXES:
            kind = "video"
        elif suffix in IMAGE_SUFFIXES:
            kind = "image"
        else:
            continue
        rel = path.relative_to(root)
        meta = {**{k: v for k, v in defaults.items() if k != "files"}}
        meta.update(per_file.get(str(rel), {}) if isinstance(per_file, dict) else {})
        meta.update(_sidecar(path))
        words = re.findall(r"[^\W\d_]+", " ".join([*rel.parent.parts, path.stem]).lower())
        tags = [str(t).lower() for t in meta.get("tags", [])] + [w for w in words if len(w) > 2]
        found.append(
            Asset(
                kind=kind,
                path=path,
                duration=float(meta["duration"]) if "duration" in meta else None,
                tags=list(dict.fromkeys(tags)),
                rights=AssetRights(
                    provider="library",
                    id=str(rel),
                    url=meta.get("url") or meta.get("source"),
                    author=meta.get("author"),
                    author_url=meta.get("author_url"),
                    licence=str(meta.get("licence") or meta.get("license") or UNKNOWN),
                    licence_url=meta.get("licence_url") or meta.get("license_url"),
                ),
            )
        )
    return found


class LibraryProvider:
    """Clips and images of a local folder, ranked by how their tags match the keywords."""

    name = "library"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._assets: list[Asset] | None = None

    async def assets(self) -> list[Asset]:
        if self._assets is None:
            self._assets = await asyncio.to_thread(scan, self.root)
        return self._assets

    async def search(self, query: FootageQuery, ctx: SkillContext) -> list[Asset]:
        ranked = []
        for asset in await self.assets():
            score = tag_score(asset.tags, query.keywords)
            if score > 0:
                ranked.append(asset.model_copy(update={"score": score}))
        ranked.sort(key=lambda a: -a.score)
        return ranked[: query.count]
