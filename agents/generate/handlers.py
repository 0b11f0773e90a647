"""The generate agent: download → transcribe → script → render, one content item at a time.

Skills run outside any transaction (rendering takes a while). The item's status moves to
`generating` first; the outcome — `ready` with ContentReady, or `failed` with ContentFailed —
commits together with the inbox record of the request. A crash in between redelivers the
request and the work is redone into the same file names, so there is still one outcome.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.runtime import AgentRuntime
from agents.runtime.repository import set_content_status
from chimera.errors import ErrorCategory, ErrorInfo
from events import ContentFailed, ContentReady, ContentRequested
from events.catalog import ContentFailedPayload, ContentReadyPayload

AGENT = "generate"
CONSUMER = "generate.requests"
ASPECT = {"vertical": "9:16", "landscape": "16:9", "square": "1:1"}
VIDEO_PLATFORMS = {"youtube", "tiktok", "twitter"}
Stage = Literal["download", "transcribe", "script", "render", "store"]


class GenerateSettings(BaseSettings):
    """Configured with CHIMERA_GENERATE_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_GENERATE_", extra="ignore")

    download_reference: bool = Field(
        default=True, description="Fetch the trend's video (YouTube/TikTok/X) as background.")
    transcribe: bool = Field(default=True, description="Transcribe the reference video.")
    narrate: bool = Field(default=True, description="Speak the script (espeak-ng).")
    target_duration_s: int = Field(default=30, ge=10, le=60)
    resolution_scale: float = Field(default=1.0, gt=0.1, le=1.0)
    preset: str | None = None


class StageFailed(Exception):
    def __init__(self, stage: Stage, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.stage = stage
        self.error = error


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, "chimera:" + ":".join(map(str, parts)))


async def _reference(rt: AgentRuntime, request: ContentRequested,
                     settings: GenerateSettings) -> tuple[str | None, str | None]:
    """The reference clip and its transcript, when the trend has a video we may fetch.

    A reference is optional: a refused or unsupported URL, or no speech model, means the
    video is made without it. Only a transient download error fails the item (to retry).
    """
    trend = request.payload.trend
    if not settings.download_reference or trend.platform not in VIDEO_PLATFORMS:
        return None, None
    download: Any = await rt.skills.skill_download_video({"url": trend.url})
    if not download.success:
        if download.error.category is ErrorCategory.TRANSIENT:
            raise StageFailed("download", download.error)
        return None, None
    if not settings.transcribe:
        return download.path, None
    transcript: Any = await rt.skills.skill_transcribe_audio({"media_path": download.path})
    return download.path, (transcript.text if transcript.success else None)


async def make_content(rt: AgentRuntime, request: ContentRequested,
                       settings: GenerateSettings) -> tuple[Any, Any]:
    p = request.payload
    reference, transcript = await _reference(rt, request, settings)
    written: Any = await rt.skills.skill_write_script({
        "trend": p.trend.model_dump(mode="json"), "transcript": transcript,
        "target_duration_s": settings.target_duration_s})
    if not written.success:
        raise StageFailed("script", written.error)
    script = written.script
    video: Any = await rt.skills.skill_generate_video({
        "script": {"title": script.title, "hook": script.hook, "body": script.body,
                   "call_to_action": script.call_to_action},
        "aspect": ASPECT[p.format], "resolution_scale": settings.resolution_scale,
        "background_video": reference, "narrate": settings.narrate,
        "preset": settings.preset, "output_name": f"{p.content_id}.mp4",
    })
    if not video.success:
        raise StageFailed("render", video.error)
    return script, video


def on_content_requested(settings: GenerateSettings):  # type: ignore[no-untyped-def]
    async def handle(event: ContentRequested, rt: AgentRuntime) -> None:
        p = event.payload
        async with rt.transaction() as tx:
            previous = await set_content_status(tx.conn, p.content_id, "generating")
            await tx.audit("content:generating", cause=event, discriminator=str(p.attempt),
                           input_data={"content_id": p.content_id, "previous": previous})
        try:
            script, video = await make_content(rt, event, settings)
        except StageFailed as failed:
            async with rt.transaction() as tx:
                if not await tx.claim(CONSUMER, event):
                    return
                await set_content_status(tx.conn, p.content_id, "failed")
                await tx.emit(ContentFailed.create(
                    ContentFailedPayload(content_id=p.content_id, trend_id=p.trend.id,
                                         stage=failed.stage, error=failed.error,
                                         attempt=p.attempt),
                    producer=AGENT, causation=event, event_id=_id("failed", event.event_id),
                ), key=p.content_id)
                await tx.audit("content:failed", status="failure", cause=event,
                               output_data={"stage": failed.stage, "error": failed.error.code})
            return
        async with rt.transaction() as tx:
            if not await tx.claim(CONSUMER, event):
                return
            description = "\n\n".join(filter(None, [script.description,
                                                     " ".join(script.hashtags)]))
            await set_content_status(
                tx.conn, p.content_id, "ready", script=script.model_dump_json(),
                local_path=video.path,
                metadata={"duration": video.duration, "resolution": video.resolution,
                          "sha256": video.sha256, "size": video.size, "format": p.format,
                          "has_audio": video.has_audio, "title": script.title})
            await tx.emit(ContentReady.create(
                ContentReadyPayload(
                    content_id=p.content_id, trend_id=p.trend.id, path=video.path,
                    duration=video.duration, width=video.width, height=video.height,
                    sha256=video.sha256, title=script.title, description=description,
                    tags=[h.lstrip("#") for h in script.hashtags],
                    script="\n".join(script.lines), attempt=p.attempt),
                producer=AGENT, causation=event, event_id=_id("ready", event.event_id),
            ), key=p.content_id)
            await tx.audit("content:ready", cause=event,
                           output_data={"content_id": p.content_id, "path": video.path,
                                        "duration": video.duration})

    return handle
