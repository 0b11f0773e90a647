"""Publishing skills: post videos to YouTube, TikTok, X or a local page, and read engagement.

Importing the package registers `skill_publish_content`, `skill_fetch_engagement` and
`skill_find_publication` in `skills.base.REGISTRY`. One module per platform, each behind the
`Publisher` protocol; `PublishSettings` holds the configuration (env prefix CHIMERA_).
"""

from __future__ import annotations

from skills.publish.errors import OutcomeUnknownError
from skills.publish.local import LocalPublisher
from skills.publish.models import (
    FetchEngagementInput,
    FetchEngagementOutput,
    FindPublicationInput,
    FindPublicationOutput,
    PublishContentInput,
    PublishContentOutput,
)
from skills.publish.protocol import Publisher
from skills.publish.skill import fetch_engagement, find_publication, publish_content
from skills.publish.tiktok import TikTokPublisher
from skills.publish.x import XPublisher
from skills.publish.youtube import YouTubePublisher
from skills.settings.publish import PublishSettings

__all__ = [
    "FetchEngagementInput",
    "FetchEngagementOutput",
    "FindPublicationInput",
    "FindPublicationOutput",
    "LocalPublisher",
    "OutcomeUnknownError",
    "PublishContentInput",
    "PublishContentOutput",
    "PublishSettings",
    "Publisher",
    "TikTokPublisher",
    "XPublisher",
    "YouTubePublisher",
    "fetch_engagement",
    "find_publication",
    "publish_content",
]
