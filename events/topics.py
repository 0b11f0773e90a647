"""The topic registry: one topic per stream, under a configurable prefix, each with a DLQ.

Keys keep order where it matters: trend streams are keyed by trend id, content and
publication streams by content id, so one item's events stay on one partition, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Stream:
    """One stream: its topic name suffix, what flows on it and what its key is."""

    suffix: str
    carries: tuple[str, ...]
    key: str
    description: str


STREAMS: dict[str, Stream] = {
    s.suffix: s
    for s in (
        Stream(
            "research.commands",
            ("FetchTrends",),
            "none",
            "On-demand commands for the research agent.",
        ),
        Stream(
            "trends",
            ("TrendDiscovered",),
            "trend id",
            "Discovered trends, from the research agent or injected by producers.",
        ),
        Stream(
            "content.requests",
            ("ContentRequested",),
            "content id",
            "The orchestrator's requests to generate content.",
        ),
        Stream(
            "content.events",
            ("ContentReady", "ContentFailed"),
            "content id",
            "Outcomes of generation.",
        ),
        Stream(
            "publish.requests",
            ("PublishRequested",),
            "content id",
            "Requests to publish a ready video on one platform.",
        ),
        Stream(
            "publish.events",
            ("Published", "PublishFailed"),
            "content id",
            "Outcomes of publishing.",
        ),
        Stream(
            "engagement",
            ("EngagementRecorded",),
            "content id",
            "Engagement snapshots of published items.",
        ),
        Stream(
            "audit",
            ("AuditRecorded",),
            "agent id",
            "Every skill call and state transition, for the audit sink.",
        ),
        Stream("alerts", ("OperatorAlert",), "subject", "Things a person must look at."),
        Stream(
            "review.commands",
            ("ApproveContent", "RejectContent"),
            "content id",
            "People's decisions on content that waits for approval, for the orchestrator "
            "(console, review CLI, MCP).",
        ),
    )
}


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix: `Topics("chimera").trends == "chimera.trends"`."""

    prefix: str

    def name(self, suffix: str) -> str:
        if suffix not in STREAMS:
            raise KeyError(f"no stream {suffix!r}")
        return f"{self.prefix}.{suffix}"

    @staticmethod
    def dlq(topic: str) -> str:
        return topic + DLQ_SUFFIX

    def stream_of(self, event_type: str) -> str:
        for suffix, stream in STREAMS.items():
            if event_type in stream.carries:
                return self.name(suffix)
        raise KeyError(f"no stream carries {event_type!r}")

    def all(self, with_dlq: bool = True) -> list[str]:
        names = [self.name(s) for s in STREAMS]
        return names + [self.dlq(n) for n in names] if with_dlq else names

    research_commands = property(lambda self: self.name("research.commands"))
    trends = property(lambda self: self.name("trends"))
    content_requests = property(lambda self: self.name("content.requests"))
    content_events = property(lambda self: self.name("content.events"))
    publish_requests = property(lambda self: self.name("publish.requests"))
    publish_events = property(lambda self: self.name("publish.events"))
    engagement = property(lambda self: self.name("engagement"))
    audit = property(lambda self: self.name("audit"))
    alerts = property(lambda self: self.name("alerts"))
    review_commands = property(lambda self: self.name("review.commands"))
