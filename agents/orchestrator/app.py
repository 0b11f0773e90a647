"""The orchestrator agent: decides what deserves content, where and when it goes.

Run alone: `chimera agent orchestrator`, or
`faststream run agents.orchestrator.app:create_app --factory`.
"""

from __future__ import annotations

from functools import partial

from faststream import FastStream

from agents.orchestrator import handlers
from agents.orchestrator.policy import Policy
from agents.runtime import AgentRuntime, Subscription
from chimera.settings import Settings
from events import Topics


def build(settings: Settings, policy: Policy | None = None) -> AgentRuntime:
    policy = policy or Policy()
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(handlers.AGENT, settings, [
        Subscription("orchestrator.trends", topics.trends, ("TrendDiscovered",),
                     batch=partial(handlers.on_trends_discovered, policy=policy)),
        Subscription("orchestrator.content", topics.content_events,
                     ("ContentReady", "ContentFailed"),
                     in_tx=_dispatch({"ContentReady": handlers.on_content_ready,
                                      "ContentFailed": handlers.on_content_failed}, policy)),
        Subscription("orchestrator.publications", topics.publish_events,
                     ("Published", "PublishFailed"),
                     in_tx=_dispatch({"Published": handlers.on_published,
                                      "PublishFailed": handlers.on_publish_failed}, policy)),
    ])


def _dispatch(table, policy):  # type: ignore[no-untyped-def]
    async def handle(event, tx):  # type: ignore[no-untyped-def]
        await table[event.event_type](event, tx, policy)

    return handle


def create_app() -> FastStream:
    return build(Settings()).app
