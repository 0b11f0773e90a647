"""Choosing one visual per beat of the narration, by the beat's keywords.

For each beat (a line of the script, with its spoken interval): the keyword providers
(library, Pexels, Pixabay, in the configured order) are asked for the beat's keywords; the best
candidate least used so far wins, so consecutive beats cut to different footage. A beat nothing
matches gets the trend's own media when enabled (reference clip, then thumbnail), else any
library asset (least used), else a generated moving gradient. A provider that fails (quota,
network, key) is left out for the rest of the video and noted, never failing the render.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.errors import OperationError
from skills.context import SkillContext
from skills.media.footage.fetch import cache_name, fetch_file
from skills.media.footage.filesystem import FilesystemProvider
from skills.media.footage.library import LibraryProvider
from skills.media.footage.models import (
    UNKNOWN,
    Asset,
    AssetRights,
    FetchingProvider,
    FootageProvider,
    FootageQuery,
    Orientation,
    keywords,
)
from skills.media.footage.stock import PexelsProvider, PixabayProvider
from skills.settings import SkillSettings

log = logging.getLogger("chimera.skills.media.footage")

GENERATED = AssetRights(
    provider="generated", id="gradient", licence="CC0-1.0", author="Chimera (rendered)"
)


@dataclass(frozen=True)
class Beat:
    """A stretch of the video with its text (the spoken line)."""

    text: str
    start: float
    end: float


@dataclass
class Visual:
    """The asset filling a beat, from `offset` seconds into it (clips)."""

    asset: Asset
    start: float
    end: float
    offset: float = 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start


def providers_for(settings: SkillSettings) -> list[FootageProvider]:
    """The keyword providers the settings enable, in order (remote ones only with a key, the
    Filesystem MCP server's library only with its roots)."""
    cfg = settings.media
    found: list[FootageProvider] = []
    for name in cfg.footage_providers:
        if name == "library" and cfg.footage_library is not None:
            found.append(LibraryProvider(cfg.footage_library.expanduser()))
        elif name == "filesystem" and settings.mcp.footage_enabled:
            found.append(FilesystemProvider())
        elif name == "pexels" and cfg.pexels_api_key is not None:
            found.append(PexelsProvider(cfg.pexels_api_key, cfg.pexels_url))
        elif name == "pixabay" and cfg.pixabay_api_key is not None:
            found.append(PixabayProvider(cfg.pixabay_api_key, cfg.pixabay_url))
    return found


async def _materialise(
    asset: Asset, ctx: SkillContext, cache: Path, provider: FootageProvider | None
) -> Asset:
    if asset.path is not None:
        return asset
    if isinstance(provider, FetchingProvider):
        return await provider.fetch(asset, ctx, cache)
    if asset.remote_url is None:
        return asset
    name = cache_name(asset.rights.provider, asset.rights.id, asset.remote_url)
    max_bytes = int(ctx.settings.media.footage_max_mb * 1024 * 1024)
    path = await fetch_file(asset.remote_url, cache / name, ctx, max_bytes)
    return asset.model_copy(update={"path": path})


async def choose_visuals(
    beats: list[Beat],
    ctx: SkillContext,
    *,
    providers: list[FootageProvider],
    topic_keywords: list[str],
    orientation: Orientation,
    cache: Path,
    reference: Path | None = None,
    thumbnail_url: str | None = None,
    notes: list[str] | None = None,
) -> list[Visual]:
    """One visual per beat (see the module docstring)."""
    notes = notes if notes is not None else []
    cfg = ctx.settings.media
    disabled: set[str] = set()
    uses: dict[str, int] = {}
    offsets: dict[str, float] = {}
    order = {p.name: i for i, p in enumerate(providers)}
    by_name = {p.name: p for p in providers}
    library = [p for p in providers if isinstance(p, LibraryProvider)]
    thumbnail: Asset | None = None
    if thumbnail_url and "thumbnail" in cfg.footage_providers:
        thumbnail = Asset(
            kind="image",
            remote_url=thumbnail_url,
            rights=AssetRights(provider="thumbnail", id=thumbnail_url, url=thumbnail_url),
        )
    visuals: list[Visual] = []
    for n, beat in enumerate(beats):
        ctx.report("footage", n / max(1, len(beats)), beat.text[:40])
        wanted = keywords(beat.text, 3) or topic_keywords[:3]
        candidates: list[Asset] = []
        for provider in providers:
            if provider.name in disabled or not wanted:
                continue
            query = FootageQuery(
                keywords=wanted,
                orientation=orientation,
                min_duration_s=round(beat.end - beat.start, 2),
                count=5,
            )
            try:
                candidates.extend(await provider.search(query, ctx))
            except OperationError as exc:
                disabled.add(provider.name)
                notes.append(f"{provider.name}: {exc.code}: {exc.message}")
                log.warning("footage provider %s left out: %s", provider.name, exc)
        previous = visuals[-1].asset.key if visuals else None
        # Never the same footage twice in a row when there is another; then the least used,
        # the best match, the provider listed first.
        candidates.sort(
            key=lambda a: (
                a.key == previous,
                uses.get(a.key, 0),
                -a.score,
                order.get(a.rights.provider, 99),
            )
        )
        if not candidates:
            if reference is not None and "reference" in cfg.footage_providers:
                candidates.append(
                    Asset(
                        kind="video",
                        path=reference,
                        rights=AssetRights(provider="reference", id=reference.name),
                    )
                )
            if thumbnail is not None:
                candidates.append(thumbnail)
        if not candidates or candidates[0].key == previous:
            # Nothing matched, or only the footage just shown: another library asset.
            pool = [a for p in library for a in await p.assets()]
            pool.sort(
                key=lambda a: (
                    a.key == previous,
                    uses.get(a.key, 0),
                    -_topic(a, topic_keywords),
                    a.key,
                )
            )
            fresh = [a for a in pool[:3] if a.key != previous]
            candidates = fresh + candidates if candidates else pool[:3]
        chosen: Asset | None = None
        for candidate in candidates:
            try:
                chosen = await _materialise(
                    candidate, ctx, cache, by_name.get(candidate.rights.provider)
                )
            except OperationError as exc:
                notes.append(f"{candidate.key}: {exc.code}: {exc.message}")
                continue
            if candidate is thumbnail:
                thumbnail = chosen
            break
        if chosen is None:
            chosen = Asset(
                kind="generated", rights=GENERATED.model_copy(update={"id": f"gradient-{n}"})
            )
        uses[chosen.key] = uses.get(chosen.key, 0) + 1
        offset = offsets.get(chosen.key, 0.0)
        if chosen.kind == "video" and chosen.duration:
            offset = offset % max(0.001, chosen.duration)
        offsets[chosen.key] = offset + (beat.end - beat.start)
        visuals.append(Visual(chosen, beat.start, beat.end, offset))
    ctx.report("footage", 1.0)
    return visuals


def _topic(asset: Asset, topic: list[str]) -> float:
    return float(sum(1 for word in topic if word in asset.tags))


def ledger(visuals: list[Visual]) -> list[AssetRights]:
    """The rights of every distinct asset used, in order of first use."""
    seen: dict[str, AssetRights] = {}
    for visual in visuals:
        seen.setdefault(visual.asset.key, visual.asset.rights)
    return list(seen.values())


def unknown_licences(rights: list[AssetRights]) -> list[AssetRights]:
    """The assets whose licence is unknown."""
    return [r for r in rights if not r.licence_known or r.licence == UNKNOWN]
