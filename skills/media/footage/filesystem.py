"""`skill_find_footage`: a clip from the footage library, through the Filesystem MCP server.

The library is a set of folders (CHIMERA_FOOTAGE_ROOTS) served by the reference Filesystem MCP
server (`@modelcontextprotocol/server-filesystem`, run with Node), confined to those roots:
they are its only allowed directories (command line and MCP roots), its allowlist holds only
reading tools (`skills.settings.mcp.FOOTAGE_TOOLS`), and every path Chimera asks for or is
given back is checked against the roots here as well.

Every clip needs a licence: a sidecar `<clip>.json` beside it (`{"licence": "CC0-1.0",
"author": "...", "source": "https://...", "title": "..."}`); a clip without one is never used.
The best clip is the one whose file name shares the most words with the request (ties broken
by a hash of `seed`, so the same content item gets the same clip); it is copied into the media
folder (`footage/`) and its licence is returned for the content's asset list.

The same library is one of the render's footage providers (`FilesystemProvider`, named
`filesystem` in CHIMERA_FOOTAGE_PROVIDERS, on when CHIMERA_FOOTAGE_ROOTS is set): it lists the
licensed clips once per render, ranks them by each beat's keywords, and copies only the clips
a beat actually uses.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.errors import OperationError, PermanentError
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext
from skills.files import write_bytes_atomic
from skills.mcp.client import McpServer, connect, deadline
from skills.media.footage.models import Asset, AssetRights, FootageQuery, tag_score

VIDEO_EXTENSIONS = ("mp4", "mov", "webm", "mkv", "MP4", "MOV")
_WORD = re.compile(r"[a-z0-9]+")
_SIZE = re.compile(r"^size:\s*(\d+)\s*$", re.MULTILINE)


class ClipLicence(BaseModel):
    """A clip's sidecar: where it came from and the terms it may be used under."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="footage", min_length=1, max_length=50)
    source: str = Field(min_length=1, max_length=2000, description="Where it came from (a URI).")
    licence: str = Field(min_length=1, max_length=200, description="e.g. CC0-1.0, Pexels.")
    author: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    licence_url: str | None = Field(default=None, max_length=2000)


class FindFootageInput(SkillInput):
    """What the video is about (words matched against clip names) and a seed for ties."""

    words: list[str] = Field(default_factory=list, max_length=50)
    seed: str = Field(default="", max_length=255, description="e.g. the content id.")


class FindFootageOutput(SkillOutput):
    """The clip copied into the media folder, or no clip (`path` None) when none fits."""

    path: str | None = None
    source: str | None = None
    licence: ClipLicence | None = None
    size: int = 0
    sha256: str | None = None
    candidates: int = 0


def _words(texts: list[str]) -> set[str]:
    return {w for text in texts for w in _WORD.findall(text.lower()) if len(w) > 2}


def rank(paths: list[Path], words: set[str], seed: str) -> list[Path]:
    """Most shared words first; ties by a hash of seed and path (stable per seed)."""

    def key(path: Path) -> tuple[int, str]:
        shared = len(words & _words([path.stem]))
        return (-shared, hashlib.sha256(f"{seed}:{path}".encode()).hexdigest())

    return sorted(paths, key=key)


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path.resolve().is_relative_to(root) for root in roots)


async def _clips(fs: McpServer, roots: list[Path]) -> list[Path]:
    found: list[Path] = []
    pattern = "**/*.{" + ",".join(VIDEO_EXTENSIONS) + "}"
    for root in roots:
        reply = await fs.call("search_files", {"path": str(root), "pattern": pattern})
        for line in reply.text.splitlines():
            candidate = Path(line.strip())
            # The server's answer is checked like anything else from outside.
            if candidate.is_absolute() and _inside(candidate, roots):
                found.append(candidate)
    return sorted(set(found))


async def _licence(fs: McpServer, clip: Path) -> ClipLicence | None:
    try:
        reply = await fs.call("read_text_file", {"path": f"{clip}.json"})
        raw = json.loads(reply.text)
        return ClipLicence.model_validate(
            {
                "kind": "footage",
                "source": raw.get("source") or clip.as_uri(),
                "licence": raw.get("licence") or raw.get("license"),
                "author": raw.get("author"),
                "title": raw.get("title"),
                "licence_url": raw.get("licence_url") or raw.get("license_url"),
            }
        )
    except (OperationError, json.JSONDecodeError, AttributeError, PydanticValidationError):
        return None  # no sidecar, or not a usable one: the clip is not used


async def _copy(fs: McpServer, clip: Path, ctx: SkillContext) -> tuple[Path, int, str] | None:
    """Copy `clip` into the media folder (`footage/`, named by its digest): (path, size,
    sha256), or None when it is larger than the limit (CHIMERA_MCP_FOOTAGE_MAX_MB)."""
    limit = int(ctx.settings.mcp.footage_max_mb * 1024 * 1024)
    info = await fs.call("get_file_info", {"path": str(clip)})
    size = _SIZE.search(info.text)
    if size is None or int(size.group(1)) > limit:
        return None
    reply = await fs.call("read_media_file", {"path": str(clip)})
    if len(reply.blobs) != 1 or len(reply.blobs[0].data) != int(size.group(1)):
        raise PermanentError(
            f"read_media_file of {clip} did not return the file's {size.group(1)} bytes",
            code="MCP_OUTPUT_INVALID",
        )
    body = reply.blobs[0].data
    digest = hashlib.sha256(body).hexdigest()
    target = ctx.paths.media_dir / "footage" / f"{digest[:24]}{clip.suffix.lower()}"
    if not (target.is_file() and target.stat().st_size == len(body)):
        write_bytes_atomic(target, body)
    return target, len(body), digest


@skill("skill_find_footage")
async def find_footage(data: FindFootageInput, ctx: SkillContext) -> FindFootageOutput:
    """Pick a licensed clip from the footage library (Filesystem MCP server) for a video.

    Matches `words` against clip file names; only clips with a licence sidecar are used. The
    clip is copied into the media folder; `path` is None when no licensed clip exists.
    """
    name, config = ctx.settings.mcp.footage()
    async with deadline(name, config.timeout_s), connect(name, config) as fs:
        clips = await _clips(fs, config.roots)
        for clip in rank(clips, _words(data.words), data.seed):
            licence = await _licence(fs, clip)
            if licence is None:
                continue
            copied = await _copy(fs, clip, ctx)
            if copied is None:
                continue
            target, size, digest = copied
            return FindFootageOutput(
                success=True,
                path=str(target),
                source=clip.as_uri(),
                licence=licence,
                size=size,
                sha256=digest,
                candidates=len(clips),
            )
    return FindFootageOutput(success=True, candidates=len(clips))


class FilesystemProvider:
    """The footage library behind the Filesystem MCP server, as a render footage provider.

    Its catalogue (licensed clips and their sidecars) is read once per instance, that is once
    per render; `fetch` copies a chosen clip through the server. Any failure of the server is
    an OperationError, which leaves this provider out for the rest of the video.
    """

    name = "filesystem"

    def __init__(self) -> None:
        self._catalogue: list[tuple[Path, ClipLicence]] | None = None

    async def _licensed(self, ctx: SkillContext) -> list[tuple[Path, ClipLicence]]:
        if self._catalogue is None:
            name, config = ctx.settings.mcp.footage()
            found: list[tuple[Path, ClipLicence]] = []
            async with deadline(name, config.timeout_s), connect(name, config) as fs:
                for clip in await _clips(fs, config.roots):
                    licence = await _licence(fs, clip)
                    if licence is not None:
                        found.append((clip, licence))
            self._catalogue = found
        return self._catalogue

    async def search(self, query: FootageQuery, ctx: SkillContext) -> list[Asset]:
        """The licensed clips whose name or title shares a keyword with the beat, best first."""
        ranked: list[Asset] = []
        for clip, licence in await self._licensed(ctx):
            tags = sorted(_words([clip.stem, licence.title or ""]))
            score = tag_score(tags, query.keywords)
            if score <= 0:
                continue
            ranked.append(
                Asset(
                    kind="video",
                    tags=tags,
                    score=score,
                    rights=AssetRights(
                        provider=self.name,
                        id=str(clip),
                        url=licence.source,
                        author=licence.author,
                        licence=licence.licence,
                        licence_url=licence.licence_url,
                    ),
                )
            )
        ranked.sort(key=lambda a: (-a.score, a.rights.id))
        return ranked[: query.count]

    async def fetch(self, asset: Asset, ctx: SkillContext, cache: Path) -> Asset:
        """The chosen clip copied into the media folder (through the server)."""
        name, config = ctx.settings.mcp.footage()
        async with deadline(name, config.timeout_s), connect(name, config) as fs:
            copied = await _copy(fs, Path(asset.rights.id), ctx)
        if copied is None:
            raise PermanentError(
                f"{asset.rights.id} is larger than CHIMERA_MCP_FOOTAGE_MAX_MB",
                code="FILE_TOO_LARGE",
            )
        return asset.model_copy(update={"path": copied[0]})
