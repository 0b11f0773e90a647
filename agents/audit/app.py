"""The audit sink agent: stores every AuditRecorded in `audit_logs`.

Run alone: `chimera agent audit`, or `faststream run agents.audit.app:create_app --factory`.
"""

from __future__ import annotations

from faststream import FastStream

from agents.audit import sink
from agents.runtime import AgentRuntime, Subscription
from core.settings import Settings
from events import AuditRecorded, Topics


def build(settings: Settings, max_records: int = 2000) -> AgentRuntime:
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        sink.AGENT,
        settings,
        [
            Subscription(
                "audit.sink",
                topics.audit,
                (AuditRecorded,),
                batch=sink.store,
                inbox=False,
                max_records=max_records,
            ),
        ],
        description=__doc__ or "",
    )


def create_app() -> FastStream:
    return build(Settings()).app
