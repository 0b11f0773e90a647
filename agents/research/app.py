"""The research agent: discovers trends on a schedule and on demand, stores every trend.

Run alone: `chimera agent research`, or
`faststream run agents.research.app:create_app --factory`.
"""

from __future__ import annotations

from faststream import FastStream

from agents.research import handlers
from agents.research.handlers import ResearchSettings
from agents.runtime import AgentRuntime, Loop, Subscription
from core.settings import Settings
from events import FetchTrends, Topics, TrendDiscovered


def build(settings: Settings, research: ResearchSettings | None = None) -> AgentRuntime:
    research = research or ResearchSettings()
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        handlers.AGENT,
        settings,
        [
            Subscription(
                "research.trends", topics.trends, (TrendDiscovered,), batch=handlers.on_trends
            ),
            Subscription(
                "research.commands",
                topics.research_commands,
                (FetchTrends,),
                long=handlers.on_fetch_command(research),
                max_records=10,
            ),
        ],
        [Loop.of(handlers.schedule(research))],
        description=__doc__ or "",
    )


def create_app() -> FastStream:
    return build(Settings()).app
