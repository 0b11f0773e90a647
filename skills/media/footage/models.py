"""The footage interface: what an asset is, where it came from, and what a provider does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from skills.context import SkillContext

AssetKind = Literal["video", "image", "generated"]
Orientation = Literal["portrait", "landscape", "square"]
UNKNOWN = "unknown"

STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its it's just like me more most my no not now of on or our out so than that
    the their them then there these they this those to too up us very was we were what when
    where which who why will with you your yours here follow watch today new get got one all
    about over every thing things much many make makes made way also back really
    """.split()  # noqa: SIM905 (a readable word list)
)


class AssetRights(BaseModel):
    """Where an asset came from and under which licence: one row of the rights ledger."""

    provider: str = Field(description="library, pexels, pixabay, reference, thumbnail, generated")
    id: str = Field(description="The provider's id of the asset (a file name for the library).")
    url: str | None = Field(default=None, description="The asset's page or source URL.")
    author: str | None = None
    author_url: str | None = None
    licence: str = Field(default=UNKNOWN, description="The licence's name, or 'unknown'.")
    licence_url: str | None = None

    @property
    def licence_known(self) -> bool:
        return bool(self.licence) and self.licence.strip().lower() != UNKNOWN


class Asset(BaseModel):
    """A clip or image that can fill a beat: a local file, or a remote one to fetch first."""

    kind: AssetKind
    rights: AssetRights
    path: Path | None = None
    remote_url: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    tags: list[str] = Field(default_factory=list)
    score: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.rights.provider}:{self.rights.id}"


class FootageQuery(BaseModel):
    """What a beat needs: its keywords, the frame's orientation and a minimum length."""

    keywords: list[str]
    orientation: Orientation = "portrait"
    min_duration_s: float = 0.0
    count: int = Field(default=5, ge=1, le=80)


class FootageProvider(Protocol):
    """A source of footage. `search` returns candidates, best first (remote ones unfetched)."""

    name: str

    async def search(self, query: FootageQuery, ctx: SkillContext) -> list[Asset]: ...


@runtime_checkable
class FetchingProvider(FootageProvider, Protocol):
    """A provider whose assets are copied by the provider itself once chosen (the Filesystem
    MCP server's library), not fetched by URL."""

    async def fetch(self, asset: Asset, ctx: SkillContext, cache: Path) -> Asset: ...


def keywords(text: str, limit: int = 6) -> list[str]:
    """The content words of `text`, lower case, in order, without stop words or repeats."""
    found: list[str] = []
    for word in re.findall(r"[^\W_]+", text.lower(), flags=re.UNICODE):
        if len(word) > 2 and word not in STOPWORDS and not word.isdigit() and word not in found:
            found.append(word)
    return found[:limit]


def tag_score(tags: list[str], wanted: list[str]) -> float:
    """How well `tags` match `wanted` keywords: exact tag matches count 1, prefixes 0.5."""
    have = {t.lower() for t in tags}
    score = 0.0
    for word in wanted:
        if word in have:
            score += 1.0
        elif any(t.startswith(word[:5]) or word.startswith(t[:5]) for t in have if len(t) > 3):
            score += 0.5
    return score
