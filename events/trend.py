"""The specification's trend object, shared by the trend-fetch skill and `TrendDiscovered`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Platform = Literal["youtube", "tiktok", "twitter", "feed"]
"""Where a trend was seen. `twitter` is X (the specification's name); `feed` is RSS/Atom/JSONL."""


class EngagementMetrics(BaseModel):
    """Counts at the time of the snapshot.

    `engagement_rate` = (likes + comments + shares) / views, 0 when there are no views.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "views": 120000,
                    "likes": 9000,
                    "comments": 400,
                    "shares": 300,
                    "engagement_rate": 0.080833,
                }
            ]
        },
    )

    views: int = Field(default=0, ge=0, description="Times the item was viewed.")
    likes: int = Field(default=0, ge=0, description="Likes (or the platform's equivalent).")
    comments: int = Field(default=0, ge=0, description="Comments or replies.")
    shares: int = Field(default=0, ge=0, description="Shares, reposts or retweets.")
    engagement_rate: float = Field(
        default=0.0, ge=0.0, description="(likes + comments + shares) / views; 0 without views."
    )

    @classmethod
    def of(
        cls, views: int = 0, likes: int = 0, comments: int = 0, shares: int = 0
    ) -> EngagementMetrics:
        """Metrics with `engagement_rate` computed by the documented definition."""
        rate = (likes + comments + shares) / views if views > 0 else 0.0
        return cls(
            views=views,
            likes=likes,
            comments=comments,
            shares=shares,
            engagement_rate=round(rate, 6),
        )


TREND_EXAMPLE: dict[str, Any] = {
    "id": "youtube:dQw4w9WgXcQ",
    "platform": "youtube",
    "topic": "retro synthwave",
    "title": "Synthwave in 60 seconds",
    "description": "Why the 80s sound is back.",
    "engagement_metrics": {
        "views": 120000,
        "likes": 9000,
        "comments": 400,
        "shares": 300,
        "engagement_rate": 0.080833,
    },
    "velocity": 5400.0,
    "timestamp": "2026-11-25T12:00:00Z",
    "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "tags": ["music", "synthwave"],
}
"""The documented example trend (events reuse it in their own examples)."""


class Trend(BaseModel):
    """A trending topic, field for field as the specification's Trend Fetcher API returns it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [TREND_EXAMPLE]},
    )

    id: str = Field(min_length=1, max_length=255, description="Unique, stable id of the item.")
    platform: Platform = Field(
        description="Where it was seen: youtube, tiktok, twitter (X) or feed (RSS/Atom/JSONL)."
    )
    topic: str = Field(
        min_length=1, max_length=255, description="The subject people talk about, in a few words."
    )
    title: str = Field(min_length=1, description="The item's title on its platform.")
    description: str = Field(default="", description="The item's description, if any.")
    engagement_metrics: EngagementMetrics = Field(
        default_factory=EngagementMetrics, description="Engagement counts when observed."
    )
    velocity: float = Field(default=0.0, description="Views gained per hour between snapshots.")
    timestamp: AwareDatetime = Field(description="When the item was observed (ISO 8601).")
    url: str = Field(min_length=1, description="Link to the item on its platform.")
    tags: list[str] = Field(default_factory=list, description="Tags or hashtags, without '#'.")
    thumbnail_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description=(
            "An http(s) image that stands for the item (a feed's media:thumbnail or JSON Feed "
            "image), for visuals made from the trend; absent when the source gives none."
        ),
    )
