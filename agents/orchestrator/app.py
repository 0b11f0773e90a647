"""The orchestrator agent: decides what deserves content, where and when it goes, and applies
people's approvals and rejections of the content the approval gate holds.

Run alone: `chimera agent orchestrator`, or
`faststream run agents.orchestrator.app:create_app --factory`.
"""

from __future__ import annotations

from functools import partial

from faststream import FastStream

from agents.orchestrator import handlers, review
from agents.orchestrator.policy import Policy
from agents.runtime import AgentRuntime, Subscription
from core.settings import Settings
from events import (
    ApproveContent,
    ContentFailed,
    ContentReady,
    Published,
    PublishFailed,
    RejectContent,
    Topics,
    TrendDiscovered,
)


def build(settings: Settings, policy: Policy | None = None) -> AgentRuntime:
    policy = policy or Policy()
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        handlers.AGENT,
        settings,
        [
            Subscription(
                "orchestrator.trends",
                topics.trends,
                (TrendDiscovered,),
                batch=partial(handlers.on_trends_discovered, policy=policy),
            ),
            Subscription[ContentReady | ContentFailed](
                "orchestrator.content",
                topics.content_events,
                (ContentReady, ContentFailed),
                in_tx=partial(handlers.on_content_event, policy=policy),
            ),
            Subscription[Published | PublishFailed](
                "orchestrator.publications",
                topics.publish_events,
                (Published, PublishFailed),
                in_tx=partial(handlers.on_publication_event, policy=policy),
            ),
            Subscription[ApproveContent | RejectContent](
                "orchestrator.reviews",
                topics.review_commands,
                (ApproveContent, RejectContent),
                in_tx=partial(review.on_review_command, policy=policy),
            ),
        ],
        [review.expiry_loop(policy)],
        description=__doc__ or "",
    )


def create_app() -> FastStream:
    return build(Settings()).app
