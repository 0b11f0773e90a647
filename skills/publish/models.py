"""Inputs and outputs of the publishing skills, and the values publishers exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from skills.base import SkillInput, SkillOutput

Platform = Literal["youtube", "tiktok", "twitter", "local"]
Privacy = Literal["public", "unlisted", "private"]
#: published: live (per its privacy); scheduled: goes live at scheduled_at;
#: processing: accepted, the platform is still working on it (reconcile later);
#: sent_to_inbox: TikTok inbox upload, the creator finishes the post in the app.
PublishStatus = Literal["published", "scheduled", "processing", "sent_to_inbox"]

PUBLICATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
POST_ID_PATTERN = r"^[A-Za-z0-9_-]{1,255}$"
ACCOUNT_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class PublishContentInput(SkillInput):
    """One video to publish on one platform (the spec's Content Publishing API, Story 3.1)."""

    platform: Platform
    video_path: Path = Field(description="Local video file (MP4 for the platforms).")
    title: str = Field(min_length=1, max_length=5000)
    description: str = Field(default="", max_length=10000)
    tags: list[str] = Field(default_factory=list, max_length=500)
    privacy: Privacy = Field(
        default="private",
        description="Who may see it. Scheduling (scheduled_at) means 'becomes public then'.",
    )
    made_for_kids: bool = Field(
        default=False, description="Made for children (YouTube's selfDeclaredMadeForKids)."
    )
    ai_generated: bool = Field(
        default=True,
        description="Disclosed as AI-generated: YouTube's containsSyntheticMedia, TikTok's "
        "is_aigc label; Chimera's videos are, so it is on unless a policy says otherwise.",
    )
    account: str | None = Field(
        default=None,
        pattern=ACCOUNT_PATTERN,
        description="The connected account (`chimera accounts list`); None: the only one.",
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="Publish later (YouTube and local only)."
    )
    publication_id: str = Field(
        pattern=PUBLICATION_ID_PATTERN,
        description="Idempotency key of this publication (publications.id). The local "
        "publisher is idempotent on it; YouTube, TikTok and X accept no idempotency key, so "
        "for them it is recorded and used to reconcile, never sent.",
    )
    tiktok_mode: Literal["direct_post", "inbox"] = Field(
        default="direct_post",
        description="TikTok: post directly, or upload to the creator's inbox to finish there.",
    )
    youtube_category_id: str = Field(default="22", pattern=r"^\d{1,3}$")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("title must not be blank")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for tag in value:
            cleaned = tag.strip().lstrip("#").strip()
            if not cleaned:
                raise ValueError("tags must not be blank")
            if len(cleaned) > 100:
                raise ValueError("a tag is at most 100 characters")
            seen.setdefault(cleaned, None)
        return list(seen)


class PublishContentOutput(SkillOutput):
    """Result of skill_publish_content; every field but success/error has a default."""

    platform: Platform | None = None
    publication_id: str | None = None
    post_id: str | None = Field(default=None, description="The platform's id of the post.")
    url: str | None = None
    status: PublishStatus | None = None
    platform_ref: str | None = Field(
        default=None,
        description="Platform tracking id when no post id exists yet (TikTok publish_id).",
    )
    published_at: datetime | None = None
    scheduled_at: datetime | None = None
    reused: bool = Field(
        default=False, description="True when an earlier publication with this id was returned."
    )


class FetchEngagementInput(SkillInput):
    """Which post to read engagement counters of."""

    platform: Platform
    post_id: str = Field(pattern=POST_ID_PATTERN)
    account: str | None = Field(default=None, pattern=ACCOUNT_PATTERN)


class FetchEngagementOutput(SkillOutput):
    """Engagement counters of one post (the spec's ENGAGEMENT row)."""

    platform: Platform | None = None
    post_id: str | None = None
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0
    engagement_rate: float = Field(
        default=0.0, description="(likes + comments + shares) / views; 0 without views."
    )
    recorded_at: datetime | None = None


class FindPublicationInput(SkillInput):
    """Ask a platform whether a publication with an unknown outcome exists after all."""

    platform: Platform
    publication_id: str = Field(pattern=PUBLICATION_ID_PATTERN)
    title: str = Field(min_length=1, max_length=5000)
    account: str | None = Field(default=None, pattern=ACCOUNT_PATTERN)
    platform_ref: str | None = Field(
        default=None,
        max_length=255,
        description="From the OUTCOME_UNKNOWN error's details (TikTok publish_id).",
    )


class FindPublicationOutput(PublishContentOutput):
    """Whether the publication was found, and where; found=False means it does not exist."""

    found: bool = False


@dataclass(frozen=True)
class PublishResult:
    """What a publisher reports for a publication it made or found."""

    post_id: str | None
    url: str | None
    status: PublishStatus
    platform_ref: str | None = None
    published_at: datetime | None = None
    scheduled_at: datetime | None = None
    reused: bool = False


@dataclass(frozen=True)
class EngagementCounts:
    """Raw counters of one post."""

    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0

    @property
    def engagement_rate(self) -> float:
        if self.views <= 0:
            return 0.0
        return (self.likes + self.comments + self.shares) / self.views


@dataclass(frozen=True)
class ReconcileQuery:
    """What is known about a publication whose outcome is unknown."""

    publication_id: str
    title: str
    platform_ref: str | None = None
