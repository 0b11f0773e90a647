"""Every event and command Chimera puts on Kafka: payloads and their envelopes.

Commands are named in the imperative (`FetchTrends`), events in the past tense
(`TrendDiscovered`). Each class here documents one message type; `EVENTS` indexes them.
Every field has a description and every event an example (JSON Schema `examples`), which
`chimera events schema` and the AsyncAPI documents (`chimera asyncapi`) publish.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, JsonValue

from core.errors import ErrorInfo
from core.ids import derived_id
from events.envelope import Envelope, Payload
from events.trend import TREND_EXAMPLE, EngagementMetrics, Platform, Trend

PublishPlatform = Literal["youtube", "tiktok", "twitter", "local"]
VideoFormat = Literal["vertical", "landscape", "square"]

# --- examples: fixed ids and times, so generated documents never change between runs -------
_WORKFLOW = "0f8fad5b-d9cb-469f-a165-70867728950e"
_CONTENT_ID = "c-2f1e9a7b"
_PUBLICATION_ID = "p-2f1e9a7b-youtube"
_VIDEO = "media/c-2f1e9a7b/video.mp4"
_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _example(
    event_type: str,
    payload: dict[str, Any],
    *,
    producer: str,
    event_id: str,
    caused_by: str | None = _WORKFLOW,
    at: str = "2026-11-25T12:00:05Z",
) -> ConfigDict:
    """The model config carrying one documented example envelope."""
    return ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": event_id,
                    "event_type": event_type,
                    "schema_version": 1,
                    "occurred_at": at,
                    "producer": producer,
                    "correlation_id": _WORKFLOW,
                    "causation_id": caused_by,
                    "payload": payload,
                }
            ]
        }
    )


def _error(code: str, message: str, category: str, retryable: bool) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "details": {},
        "timestamp": "2026-11-25T12:03:00Z",
        "retryable": retryable,
        "category": category,
    }


# --- research ---------------------------------------------------------------------------------
class FetchTrendsPayload(Payload):
    """Ask the research agent to fetch trends now (on demand, besides its schedule)."""

    platforms: list[Platform] = Field(
        default_factory=lambda: list[Platform](["feed"]), description="Platforms to search."
    )
    categories: list[str] = Field(
        default_factory=list, description="Only these categories (empty: all of them)."
    )
    time_range: Literal["24h", "7d", "30d"] = Field(
        default="24h", description="How far back to look."
    )
    max_results: int = Field(default=50, ge=1, le=50, description="At most this many trends.")


class FetchTrends(Envelope[FetchTrendsPayload]):
    """Command: fetch trends now."""

    model_config = _example(
        "FetchTrends",
        {
            "platforms": ["youtube", "feed"],
            "categories": ["music"],
            "time_range": "24h",
            "max_results": 20,
        },
        producer="chimera-cli",
        event_id="5b2c7c43-6f2e-4c57-9a0e-0d5f7c1d9a11",
        caused_by=None,
        at="2026-11-25T11:59:00Z",
    )

    EVENT_TYPE = "FetchTrends"


class TrendDiscovered(Envelope[Trend]):
    """A trend worth considering; the payload is the specification's trend object.

    Emitted by the research agent, or injected by outside producers (same validation).
    Key: the trend id.
    """

    model_config = _example(
        "TrendDiscovered",
        TREND_EXAMPLE,
        producer="research",
        event_id=_WORKFLOW,
        caused_by=None,
        at="2026-11-25T12:00:01Z",
    )

    EVENT_TYPE = "TrendDiscovered"


# --- generation -------------------------------------------------------------------------------
class ContentRequestedPayload(Payload):
    """The orchestrator's decision to make a piece of content for a trend."""

    content_id: str = Field(
        min_length=1,
        max_length=255,
        description="Id of the content to make; the key of its events.",
    )
    trend: Trend = Field(description="The trend the content is about.")
    style: str = Field(default="explainer", description="The script's style.")
    format: VideoFormat = Field(default="vertical", description="The video's aspect.")
    platforms: list[PublishPlatform] = Field(
        min_length=1, description="Where the content will be published."
    )
    attempt: int = Field(default=1, ge=1, description="1 for the first try, then 2, 3, ...")


class ContentRequested(Envelope[ContentRequestedPayload]):
    """Command-like event: generate content for a trend. Key: the content id."""

    model_config = _example(
        "ContentRequested",
        {
            "content_id": _CONTENT_ID,
            "trend": TREND_EXAMPLE,
            "style": "explainer",
            "format": "vertical",
            "platforms": ["youtube", "local"],
            "attempt": 1,
        },
        producer="orchestrator",
        event_id="b3f1c0de-8a4e-4f0a-9c35-2f6d1e7a0b01",
    )

    EVENT_TYPE = "ContentRequested"


class ContentReadyPayload(Payload):
    """A rendered video and what to publish it with."""

    content_id: str = Field(description="The content this video is for.")
    trend_id: str = Field(description="The trend the content is about.")
    path: str = Field(description="Where the rendered video is (shared media volume).")
    duration: float = Field(ge=0, description="Length in seconds.")
    width: int = Field(ge=1, description="Width in pixels.")
    height: int = Field(ge=1, description="Height in pixels.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the video file, hex.")
    title: str = Field(description="Title to publish with.")
    description: str = Field(default="", description="Description to publish with.")
    tags: list[str] = Field(default_factory=list, description="Tags to publish with.")
    script: str = Field(default="", description="The narration script.")
    attempt: int = Field(default=1, ge=1, description="The generation attempt that made it.")


class ContentReady(Envelope[ContentReadyPayload]):
    """A video was rendered and is ready to publish. Key: the content id."""

    model_config = _example(
        "ContentReady",
        {
            "content_id": _CONTENT_ID,
            "trend_id": "youtube:dQw4w9WgXcQ",
            "path": _VIDEO,
            "duration": 42.5,
            "width": 1080,
            "height": 1920,
            "sha256": _SHA256,
            "title": "Synthwave in 60 seconds",
            "description": "Why the 80s sound is back.",
            "tags": ["music", "synthwave"],
            "script": "Synthwave is back. Here is why...",
            "attempt": 1,
        },
        producer="generate",
        event_id="d1a4f3b2-1c0e-4b7a-8f5d-3e2c1b0a9f02",
        caused_by="b3f1c0de-8a4e-4f0a-9c35-2f6d1e7a0b01",
        at="2026-11-25T12:02:10Z",
    )

    EVENT_TYPE = "ContentReady"


class ContentFailedPayload(Payload):
    """Why generating a piece of content failed."""

    content_id: str = Field(description="The content that failed.")
    trend_id: str = Field(description="The trend the content is about.")
    stage: Literal["download", "transcribe", "script", "render", "quality", "rights", "store"] = (
        Field(
            description="The step that failed: `quality` is the quality gate of the rendered "
            "video, `rights` the licence policy over its assets."
        )
    )
    error: ErrorInfo = Field(description="What went wrong; `retryable` says whether to retry.")
    attempt: int = Field(default=1, ge=1, description="The attempt that failed.")


class ContentFailed(Envelope[ContentFailedPayload]):
    """Generation failed at `stage`; `error.retryable` tells whether to try again."""

    model_config = _example(
        "ContentFailed",
        {
            "content_id": _CONTENT_ID,
            "trend_id": "youtube:dQw4w9WgXcQ",
            "stage": "render",
            "error": _error("RENDER_FAILED", "ffmpeg exited with status 1", "transient", True),
            "attempt": 1,
        },
        producer="generate",
        event_id="e7c2b1a0-9d8e-4f6a-b5c4-d3e2f1a0b903",
        caused_by="b3f1c0de-8a4e-4f0a-9c35-2f6d1e7a0b01",
        at="2026-11-25T12:03:00Z",
    )

    EVENT_TYPE = "ContentFailed"


# --- publishing -------------------------------------------------------------------------------
class PublishRequestedPayload(Payload):
    """One video to publish on one platform."""

    publication_id: str = Field(
        min_length=1, max_length=255, description="Id of this publication (content and platform)."
    )
    content_id: str = Field(description="The content to publish.")
    platform: PublishPlatform = Field(description="Where to publish it.")
    path: str = Field(description="The video file (shared media volume).")
    title: str = Field(description="Title on the platform.")
    description: str = Field(default="", description="Description on the platform.")
    tags: list[str] = Field(default_factory=list, description="Tags on the platform.")
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="Publish at this time; null means now."
    )
    attempt: int = Field(default=1, ge=1, description="1 for the first try, then 2, 3, ...")
    account: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="The connected account to publish with (`chimera accounts list`); "
        "null: the platform's only account.",
    )


class PublishRequested(Envelope[PublishRequestedPayload]):
    """Publish a ready video on one platform, at `scheduled_at` or now. Key: the content id."""

    model_config = _example(
        "PublishRequested",
        {
            "publication_id": _PUBLICATION_ID,
            "content_id": _CONTENT_ID,
            "platform": "youtube",
            "path": _VIDEO,
            "title": "Synthwave in 60 seconds",
            "description": "Why the 80s sound is back.",
            "tags": ["music", "synthwave"],
            "scheduled_at": "2026-11-25T18:00:00Z",
            "attempt": 1,
        },
        producer="orchestrator",
        event_id="a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c04",
        caused_by="d1a4f3b2-1c0e-4b7a-8f5d-3e2c1b0a9f02",
        at="2026-11-25T12:02:11Z",
    )

    EVENT_TYPE = "PublishRequested"


class PublishedPayload(Payload):
    """Where a video went live."""

    publication_id: str = Field(description="The publication that succeeded.")
    content_id: str = Field(description="The content that was published.")
    platform: PublishPlatform = Field(description="Where it was published.")
    post_id: str = Field(description="The platform's id of the post.")
    url: str = Field(description="Link to the post.")
    published_at: AwareDatetime = Field(description="When it went live.")


class Published(Envelope[PublishedPayload]):
    """A video is live on a platform. Key: the content id."""

    model_config = _example(
        "Published",
        {
            "publication_id": _PUBLICATION_ID,
            "content_id": _CONTENT_ID,
            "platform": "youtube",
            "post_id": "yt-8c1d2e3f",
            "url": "https://www.youtube.com/watch?v=yt-8c1d2e3f",
            "published_at": "2026-11-25T18:00:04Z",
        },
        producer="publish",
        event_id="c4d5e6f7-a8b9-4c0d-8e1f-2a3b4c5d6e05",
        caused_by="a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c04",
        at="2026-11-25T18:00:04Z",
    )

    EVENT_TYPE = "Published"


class PublishFailedPayload(Payload):
    """Why publishing on one platform failed."""

    publication_id: str = Field(description="The publication that failed.")
    content_id: str = Field(description="The content it was for.")
    platform: PublishPlatform = Field(description="Where it was to be published.")
    error: ErrorInfo = Field(description="What went wrong; `retryable` says whether to retry.")
    attempt: int = Field(default=1, ge=1, description="The attempt that failed.")
    outcome_unknown: bool = Field(
        default=False,
        description="True when the platform may have accepted the post; never re-post blindly.",
    )


class PublishFailed(Envelope[PublishFailedPayload]):
    """Publishing failed; `error.retryable` tells whether to try again. Key: the content id."""

    model_config = _example(
        "PublishFailed",
        {
            "publication_id": _PUBLICATION_ID,
            "content_id": _CONTENT_ID,
            "platform": "youtube",
            "error": _error("RATE_LIMITED", "quota exceeded, retry after 3600s", "transient", True),
            "attempt": 1,
            "outcome_unknown": False,
        },
        producer="publish",
        event_id="f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a06",
        caused_by="a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c04",
        at="2026-11-25T18:00:03Z",
    )

    EVENT_TYPE = "PublishFailed"


class EngagementRecordedPayload(Payload):
    """One engagement snapshot of one publication."""

    engagement_id: str = Field(description="Id of this snapshot.")
    publication_id: str = Field(description="The publication measured.")
    content_id: str = Field(description="The content it is for.")
    platform: PublishPlatform = Field(description="Where it is published.")
    metrics: EngagementMetrics = Field(description="The counts at `recorded_at`.")
    recorded_at: AwareDatetime = Field(description="When the counts were read.")


class EngagementRecorded(Envelope[EngagementRecordedPayload]):
    """A snapshot of a publication's engagement. Key: the content id."""

    model_config = _example(
        "EngagementRecorded",
        {
            "engagement_id": "e-p-2f1e9a7b-youtube-1",
            "publication_id": _PUBLICATION_ID,
            "content_id": _CONTENT_ID,
            "platform": "youtube",
            "metrics": {
                "views": 5400,
                "likes": 320,
                "comments": 41,
                "shares": 17,
                "engagement_rate": 0.069998,
            },
            "recorded_at": "2026-11-25T19:00:00Z",
        },
        producer="publish",
        event_id="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c07",
        caused_by="c4d5e6f7-a8b9-4c0d-8e1f-2a3b4c5d6e05",
        at="2026-11-25T19:00:00Z",
    )

    EVENT_TYPE = "EngagementRecorded"


# --- audit and operations ---------------------------------------------------------------------
class AuditPayload(Payload):
    """The specification's audit_logs row."""

    id: str = Field(
        min_length=1,
        max_length=255,
        description="The row's id; the same action on the same event, the same id.",
    )
    agent_id: str = Field(min_length=1, max_length=255, description="The agent that acted.")
    action: str = Field(
        min_length=1, max_length=100, description="What it did, e.g. `skill:skill_render_video`."
    )
    skill_name: str | None = Field(
        default=None, max_length=100, description="The skill called, for skill calls."
    )
    input_data: JsonValue = Field(default=None, description="The input, PII removed.")
    output_data: JsonValue = Field(default=None, description="The output, PII removed.")
    status: Literal["success", "failure", "pending"] = Field(description="How it went.")
    timestamp: AwareDatetime = Field(description="When it happened.")


class AuditRecorded(Envelope[AuditPayload]):
    """Something an agent did: a skill call or a state transition. Key: the agent id."""

    model_config = _example(
        "AuditRecorded",
        {
            "id": "6f1c2d3e-4a5b-5c6d-8e7f-9a0b1c2d3e4f",
            "agent_id": "generate",
            "action": "skill:skill_render_video",
            "skill_name": "skill_render_video",
            "input_data": {"content_id": _CONTENT_ID, "format": "vertical"},
            "output_data": {"output": {"success": True}, "attempts": 1, "duration_s": 31.2},
            "status": "success",
            "timestamp": "2026-11-25T12:02:09Z",
        },
        producer="generate",
        event_id="1b2c3d4e-5f6a-5b7c-8d9e-0f1a2b3c4d08",
        caused_by="b3f1c0de-8a4e-4f0a-9c35-2f6d1e7a0b01",
        at="2026-11-25T12:02:09Z",
    )

    EVENT_TYPE = "AuditRecorded"


class OperatorAlertPayload(Payload):
    """Something a person must look at, and why."""

    severity: Literal["warning", "error", "critical"] = Field(
        default="error", description="warning, error or critical."
    )
    source: str = Field(description="The agent that raised it.")
    error: ErrorInfo = Field(description="What went wrong.")
    subject: str = Field(default="", description="What it is about, e.g. a content id.")
    context: dict[str, JsonValue] = Field(
        default_factory=dict, description="More about it, e.g. the dead-letter topic."
    )


class OperatorAlert(Envelope[OperatorAlertPayload]):
    """A person must look: a permanent failure, a dead letter, an unknown outcome."""

    model_config = _example(
        "OperatorAlert",
        {
            "severity": "error",
            "source": "orchestrator",
            "error": _error(
                "SCHEMA_VIOLATION",
                "invalid TrendDiscovered: payload.url: Field required",
                "validation",
                False,
            ),
            "subject": "chimera.trends/2/41",
            "context": {"dead_letter_topic": "chimera.trends.dlq"},
        },
        producer="orchestrator",
        event_id="2c3d4e5f-6a7b-5c8d-9e0f-1a2b3c4d5e09",
        caused_by=None,
        at="2026-11-25T12:00:02Z",
    )

    EVENT_TYPE = "OperatorAlert"


# --- review (people in the loop) ------------------------------------------------------------
class ContentEdits(Payload):
    """Changes a reviewer makes when approving; each field left out keeps the generated one."""

    title: str | None = Field(
        default=None, min_length=1, max_length=100, description="Title to publish with instead."
    )
    description: str | None = Field(
        default=None, max_length=5000, description="Description to publish with instead."
    )
    tags: list[str] | None = Field(
        default=None, max_length=30, description="Tags to publish with instead."
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="Publish at this time instead of now."
    )
    platforms: list[PublishPlatform] | None = Field(
        default=None,
        min_length=1,
        description="Publish only on these platforms (a subset of the planned ones).",
    )


class ApproveContentPayload(Payload):
    """A person's decision to publish a piece of content that waits for approval."""

    content_id: str = Field(min_length=1, max_length=255, description="The content approved.")
    actor: str = Field(min_length=1, max_length=64, description="Who decided (a user name).")
    decided_at: AwareDatetime = Field(description="When they decided.")
    reason: str = Field(default="", max_length=2000, description="Why, if they said.")
    edits: ContentEdits = Field(
        default_factory=ContentEdits, description="What they changed before approving."
    )


class ApproveContent(Envelope[ApproveContentPayload]):
    """Command: publish this content (it waits in `awaiting_approval`). Key: the content id.

    Handled by the orchestrator once per content: a second decision is refused (audited)."""

    model_config = _example(
        "ApproveContent",
        {
            "content_id": _CONTENT_ID,
            "actor": "maria",
            "decided_at": "2026-11-25T12:10:00Z",
            "reason": "on brand",
            "edits": {"title": "Synthwave, explained in 60 seconds"},
        },
        producer="chimera-console",
        event_id="6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a06",
        caused_by=None,
        at="2026-11-25T12:10:00Z",
    )

    EVENT_TYPE = "ApproveContent"


class RejectContentPayload(Payload):
    """A person's decision not to publish a piece of content."""

    content_id: str = Field(min_length=1, max_length=255, description="The content rejected.")
    actor: str = Field(min_length=1, max_length=64, description="Who decided (a user name).")
    decided_at: AwareDatetime = Field(description="When they decided.")
    reason: str = Field(min_length=1, max_length=2000, description="Why (required).")


class RejectContent(Envelope[RejectContentPayload]):
    """Command: do not publish this content. Key: the content id."""

    model_config = _example(
        "RejectContent",
        {
            "content_id": _CONTENT_ID,
            "actor": "maria",
            "decided_at": "2026-11-25T12:10:00Z",
            "reason": "the footage does not match the topic",
        },
        producer="chimera-console",
        event_id="7b2e1d4f-3c5e-4f60-9bac-1d2e3f4a5b07",
        caused_by=None,
        at="2026-11-25T12:10:00Z",
    )

    EVENT_TYPE = "RejectContent"


EVENTS: dict[str, type[Envelope[Any]]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        FetchTrends,
        TrendDiscovered,
        ContentRequested,
        ContentReady,
        ContentFailed,
        PublishRequested,
        Published,
        PublishFailed,
        EngagementRecorded,
        AuditRecorded,
        OperatorAlert,
        ApproveContent,
        RejectContent,
    )
}


def audit_id(*parts: object) -> str:
    """A deterministic audit id: the same action on the same event gives the same row."""
    return str(derived_id("audit", *parts))
