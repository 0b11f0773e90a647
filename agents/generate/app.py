"""The generate agent: turns ContentRequested into a rendered video (ContentReady).

Run alone: `chimera agent generate`, or
`faststream run agents.generate.app:create_app --factory`.
"""

from __future__ import annotations

from faststream import FastStream

from agents.generate import handlers
from agents.generate.handlers import GenerateSettings
from agents.runtime import AgentRuntime, Subscription
from core.settings import Settings
from events import ContentRequested, Topics


def build(settings: Settings, generate: GenerateSettings | None = None) -> AgentRuntime:
    generate = generate or GenerateSettings()
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        handlers.AGENT,
        settings,
        [
            # One item at a time: rendering is long, so the poll interval is raised to match.
            Subscription(
                handlers.CONSUMER,
                topics.content_requests,
                (ContentRequested,),
                long=handlers.on_content_requested(generate),
                max_records=1,
            ),
        ],
        description=__doc__ or "",
        max_poll_interval_ms=30 * 60 * 1000,
    )


def create_app() -> FastStream:
    return build(Settings()).app
