"""The publish agent: publishes ready videos when due, tracks their engagement and commits
what went out to the content archive (when CHIMERA_ARCHIVE_REPO is set).

Run alone: `chimera agent publish`, or `faststream run agents.publish.app:create_app --factory`.
"""

from __future__ import annotations

from faststream import FastStream

from agents.publish import archive, handlers
from agents.publish.handlers import PublishAgentSettings
from agents.runtime import AgentRuntime, Subscription
from core.settings import Settings
from events import Published, PublishFailed, PublishRequested, Topics


def build(settings: Settings, publish: PublishAgentSettings | None = None) -> AgentRuntime:
    publish = publish or PublishAgentSettings()
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        handlers.AGENT,
        settings,
        [
            Subscription(
                "publish.requests",
                topics.publish_requests,
                (PublishRequested,),
                in_tx=handlers.on_publish_requested,
            ),
            Subscription(
                archive.CONSUMER,
                topics.publish_events,
                (Published, PublishFailed),
                long=archive.on_publication_event(),
                max_records=20,
            ),
        ],
        handlers.loops(publish),
        description=__doc__ or "",
        tokens=handlers.tokens_factory(settings),
    )


def create_app() -> FastStream:
    return build(Settings()).app
