"""Every event and command Chimera puts on Kafka: payloads and their envelopes.

Commands are named in the imperative (`FetchTrends`), events in the past tense
(`TrendDiscovered`). Each class here documents one message type; `EVENTS` indexes them.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, Field, JsonValue

from chimera.errors import ErrorInfo
from events.envelope import Envelope, Payload
from events.trend import EngagementMetrics, Platform, Trend

PublishPlatform = Literal["youtube", "tiktok", "twitter", "local"]
VideoFormat = Literal["vertical", "landscape", "square"]


# --- research ---------------------------------------------------------------------------------
class FetchTrendsPayload(Payload):
    """Ask the research agent to fetch trends now (on demand, besides its schedule)."""

    platforms: list[Platform] = Field(default_factory=lambda: list[Platform](["feed"]))
    categories: list[str] = Field(default_factory=list)
    time_range: Literal["24h", "7d", "30d"] = "24h"
    max_results: int = Field(default=50, ge=1, le=50)


class FetchTrends(Envelope[FetchTrendsPayload]):
    """Command: fetch trends now."""

    EVENT_TYPE = "FetchTrends"


class TrendDiscovered(Envelope[Trend]):
    """A trend worth considering; the payload is the specification's trend object.

    Emitted by the research agent, or injected by outside producers (same validation).
    Key: the trend id.
    """

    EVENT_TYPE = "TrendDiscovered"


# --- generation -------------------------------------------------------------------------------
class ContentRequestedPayload(Payload):
    """The orchestrator's decision to make a piece of content for a trend."""

    content_id: str = Field(min_length=1, max_length=255)
    trend: Trend
    style: str = "explainer"
    format: VideoFormat = "vertical"
    platforms: list[PublishPlatform] = Field(min_length=1)
    attempt: int = Field(default=1, ge=1)


class ContentRequested(Envelope[ContentRequestedPayload]):
    """Command-like event: generate content for a trend. Key: the content id."""

    EVENT_TYPE = "ContentRequested"


class ContentReadyPayload(Payload):
    content_id: str
    trend_id: str
    path: str = Field(description="Where the rendered video is (shared media volume).")
    duration: float = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    title: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    script: str = ""
    attempt: int = Field(default=1, ge=1)


class ContentReady(Envelope[ContentReadyPayload]):
    """A video was rendered and is ready to publish. Key: the content id."""

    EVENT_TYPE = "ContentReady"


class ContentFailedPayload(Payload):
    content_id: str
    trend_id: str
    stage: Literal["download", "transcribe", "script", "render", "store"]
    error: ErrorInfo
    attempt: int = Field(default=1, ge=1)


class ContentFailed(Envelope[ContentFailedPayload]):
    """Generation failed at `stage`; `error.retryable` tells whether to try again."""

    EVENT_TYPE = "ContentFailed"


# --- publishing -------------------------------------------------------------------------------
class PublishRequestedPayload(Payload):
    publication_id: str = Field(min_length=1, max_length=255)
    content_id: str
    platform: PublishPlatform
    path: str
    title: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    scheduled_at: AwareDatetime | None = None
    attempt: int = Field(default=1, ge=1)


class PublishRequested(Envelope[PublishRequestedPayload]):
    """Publish a ready video on one platform, at `scheduled_at` or now. Key: the content id."""

    EVENT_TYPE = "PublishRequested"


class PublishedPayload(Payload):
    publication_id: str
    content_id: str
    platform: PublishPlatform
    post_id: str
    url: str
    published_at: AwareDatetime


class Published(Envelope[PublishedPayload]):
    """A video is live on a platform. Key: the content id."""

    EVENT_TYPE = "Published"


class PublishFailedPayload(Payload):
    publication_id: str
    content_id: str
    platform: PublishPlatform
    error: ErrorInfo
    attempt: int = Field(default=1, ge=1)
    outcome_unknown: bool = Field(
        default=False,
        description="True when the platform may have accepted the post; never re-post blindly.",
    )


class PublishFailed(Envelope[PublishFailedPayload]):
    """Publishing failed; `error.retryable` tells whether to try again. Key: the content id."""

    EVENT_TYPE = "PublishFailed"


class EngagementRecordedPayload(Payload):
    engagement_id: str
    publication_id: str
    content_id: str
    platform: PublishPlatform
    metrics: EngagementMetrics
    recorded_at: AwareDatetime


class EngagementRecorded(Envelope[EngagementRecordedPayload]):
    """A snapshot of a publication's engagement. Key: the content id."""

    EVENT_TYPE = "EngagementRecorded"


# --- audit and operations ---------------------------------------------------------------------
class AuditPayload(Payload):
    """The specification's audit_logs row."""

    id: str = Field(min_length=1, max_length=255)
    agent_id: str = Field(min_length=1, max_length=255)
    action: str = Field(min_length=1, max_length=100)
    skill_name: str | None = Field(default=None, max_length=100)
    input_data: JsonValue = None
    output_data: JsonValue = None
    status: Literal["success", "failure", "pending"]
    timestamp: AwareDatetime


class AuditRecorded(Envelope[AuditPayload]):
    """Something an agent did: a skill call or a state transition. Key: the agent id."""

    EVENT_TYPE = "AuditRecorded"


class OperatorAlertPayload(Payload):
    severity: Literal["warning", "error", "critical"] = "error"
    source: str = Field(description="The agent that raised it.")
    error: ErrorInfo
    subject: str = Field(default="", description="What it is about, e.g. a content id.")
    context: dict[str, JsonValue] = Field(default_factory=dict)


class OperatorAlert(Envelope[OperatorAlertPayload]):
    """A person must look: a permanent failure, a dead letter, an unknown outcome."""

    EVENT_TYPE = "OperatorAlert"


EVENTS: dict[str, type[Envelope[Any]]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        FetchTrends, TrendDiscovered, ContentRequested, ContentReady, ContentFailed,
        PublishRequested, Published, PublishFailed, EngagementRecorded, AuditRecorded,
        OperatorAlert,
    )
}


def audit_id(*parts: object) -> str:
    """A deterministic audit id: the same action on the same event gives the same row."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "chimera-audit:" + ":".join(map(str, parts))))

