"""The publishing skills: skill_publish_content, skill_fetch_engagement, skill_find_publication.

Publishers are built per call from `SkillContext` (settings in `ctx.settings.publish`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from skills.base import skill
from skills.context import SkillContext
from skills.publish.local import LocalPublisher
from skills.publish.models import (
    FetchEngagementInput,
    FetchEngagementOutput,
    FindPublicationInput,
    FindPublicationOutput,
    Platform,
    PublishContentInput,
    PublishContentOutput,
    PublishResult,
    ReconcileQuery,
)
from skills.publish.protocol import Publisher
from skills.publish.tiktok import TikTokPublisher
from skills.publish.x import XPublisher
from skills.publish.youtube import YouTubePublisher

log = logging.getLogger("chimera.skills.publish")


#: How each platform's publisher is built from a context and the account to publish with
#: (one place to add a platform).
PUBLISHERS: dict[Platform, Callable[[SkillContext, str | None], Publisher]] = {
    "youtube": lambda ctx, account: YouTubePublisher(ctx, ctx.settings.publish, account),
    "tiktok": lambda ctx, account: TikTokPublisher(ctx, ctx.settings.publish, account=account),
    "twitter": lambda ctx, account: XPublisher(ctx, ctx.settings.publish, account),
    "local": lambda ctx, _: LocalPublisher(ctx.settings.publish.local_dir(ctx.paths.state_dir)),
}


def publisher_for(platform: Platform, ctx: SkillContext, account: str | None = None) -> Publisher:
    """The publisher of `platform` for this context (and connected account)."""
    return PUBLISHERS[platform](ctx, account)


def _fields(result: PublishResult) -> dict[str, Any]:
    return {
        "post_id": result.post_id,
        "url": result.url,
        "status": result.status,
        "platform_ref": result.platform_ref,
        "published_at": result.published_at,
        "scheduled_at": result.scheduled_at,
        "reused": result.reused,
    }


@skill("skill_publish_content")
async def publish_content(data: PublishContentInput, ctx: SkillContext) -> PublishContentOutput:
    """Publish one video to YouTube, TikTok, X (twitter) or the local page.

    Never re-posts blindly: when the step that creates the post loses its answer, the error is
    OUTCOME_UNKNOWN (permanent, so not retried) and the caller reconciles with
    skill_find_publication. Transient errors happen only where nothing can have been posted.
    The local publisher is idempotent on publication_id.
    """
    result = await publisher_for(data.platform, ctx, data.account).publish(data)
    log.info(
        "published %s on %s: post %s (%s)",
        data.publication_id,
        data.platform,
        result.post_id,
        result.status,
    )
    return PublishContentOutput(
        success=True, platform=data.platform, publication_id=data.publication_id, **_fields(result)
    )


@skill("skill_fetch_engagement")
async def fetch_engagement(data: FetchEngagementInput, ctx: SkillContext) -> FetchEngagementOutput:
    """Read a post's views, likes, comments and shares, with the engagement rate."""
    counts = await publisher_for(data.platform, ctx, data.account).fetch_engagement(data.post_id)
    return FetchEngagementOutput(
        success=True,
        platform=data.platform,
        post_id=data.post_id,
        views=counts.views,
        likes=counts.likes,
        comments=counts.comments,
        shares=counts.shares,
        engagement_rate=round(counts.engagement_rate, 6),
        recorded_at=datetime.now(UTC),
    )


@skill("skill_find_publication")
async def find_publication(data: FindPublicationInput, ctx: SkillContext) -> FindPublicationOutput:
    """Ask the platform whether a publication exists (after an OUTCOME_UNKNOWN error).

    found=False means the platform was asked and has no such post: publishing again is safe.
    """
    query = ReconcileQuery(data.publication_id, data.title, data.platform_ref)
    result = await publisher_for(data.platform, ctx, data.account).find_existing(query)
    if result is None:
        return FindPublicationOutput(
            success=True, found=False, platform=data.platform, publication_id=data.publication_id
        )
    return FindPublicationOutput(
        success=True,
        found=True,
        platform=data.platform,
        publication_id=data.publication_id,
        **_fields(result),
    )
