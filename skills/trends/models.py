"""Input and output of `skill_fetch_trends`, field for field as the Trend Fetcher API specifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from core.errors import ErrorInfo
from events.trend import Trend
from skills.base import SkillInput, SkillOutput

SourcePlatform = Literal["youtube", "tiktok", "twitter", "feed"]
TimeRange = Literal["24h", "7d", "30d"]

TIME_RANGES: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


class FetchTrendsInput(SkillInput):
    """What to fetch: the specification's four fields, plus optional source overrides.

    `time_range` bounds the items' publication time where the source has one (feeds, TikTok);
    YouTube's mostPopular chart and X's trends are snapshots of "now" and are not filtered.
    `max_results` caps the whole answer; platforms are interleaved by their own rank.
    """

    platforms: list[SourcePlatform] = Field(
        default_factory=lambda: ["feed"],  # type: ignore[arg-type]
        min_length=1,
        description="youtube | tiktok | twitter (X) | feed (RSS/Atom/JSONL, the offline default).",
    )
    categories: list[str] = Field(default_factory=list, max_length=20)
    time_range: TimeRange = "24h"
    max_results: int = Field(default=50, ge=1, le=50)
    # Optional overrides (inputs evolve by adding optional fields only).
    feed_urls: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Feeds to read instead of the configured ones: http(s) URLs, or local "
        "paths inside the configured feed roots.",
    )
    region_code: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="YouTube chart / TikTok region override."
    )
    woeid: int | None = Field(default=None, ge=1, description="X trends location override.")

    @field_validator("platforms")
    @classmethod
    def _dedupe_platforms(cls, value: list[SourcePlatform]) -> list[SourcePlatform]:
        return list(dict.fromkeys(value))

    @field_validator("categories")
    @classmethod
    def _clean_categories(cls, value: list[str]) -> list[str]:
        cleaned = [c.strip() for c in value if c.strip()]
        for c in cleaned:
            if len(c) > 100:
                raise ValueError("a category is at most 100 characters")
        return list(dict.fromkeys(cleaned))


class TrendsMetadata(BaseModel):
    """The specification's `metadata` object."""

    model_config = ConfigDict(extra="forbid")

    total_results: int = 0
    fetch_time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    platforms_queried: list[str] = Field(default_factory=list)


class SourceError(BaseModel):
    """One platform (or one feed, or one chart category) that failed while others succeeded."""

    model_config = ConfigDict(extra="forbid")

    platform: str = Field(description="youtube | tiktok | twitter | feed | velocity")
    source: str | None = Field(default=None, description="Which feed or category, when several.")
    error: ErrorInfo


class FetchTrendsOutput(SkillOutput):
    """The specification's output, plus `errors`: per-platform failures of a partial success.

    `success` is true when at least one requested platform answered; the platforms that failed
    are listed in `errors` and their trends are missing. When every platform fails, `success`
    is false and `error` says why (its details list every platform's error).
    """

    trends: list[Trend] = Field(default_factory=list)
    metadata: TrendsMetadata = Field(default_factory=TrendsMetadata)
    errors: list[SourceError] = Field(default_factory=list)
