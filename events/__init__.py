"""Event contracts: envelopes, payloads, the topic registry and the codec. No I/O here."""

from events.catalog import (
    EVENTS,
    ApproveContent,
    AuditRecorded,
    ContentFailed,
    ContentReady,
    ContentRequested,
    EngagementRecorded,
    FetchTrends,
    OperatorAlert,
    Published,
    PublishFailed,
    PublishRequested,
    RejectContent,
    TrendDiscovered,
)
from events.codec import DecodeError, decode, encode
from events.envelope import Envelope
from events.topics import Topics
from events.trend import EngagementMetrics, Trend

__all__ = [
    "EVENTS",
    "ApproveContent",
    "AuditRecorded",
    "ContentFailed",
    "ContentReady",
    "ContentRequested",
    "DecodeError",
    "EngagementMetrics",
    "EngagementRecorded",
    "Envelope",
    "FetchTrends",
    "OperatorAlert",
    "PublishFailed",
    "PublishRequested",
    "Published",
    "RejectContent",
    "Topics",
    "Trend",
    "TrendDiscovered",
    "decode",
    "encode",
]
