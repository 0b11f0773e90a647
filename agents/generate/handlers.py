"""The generate agent: download → transcribe → script → render → quality gate → rights policy.

One content item at a time. The video is declared ready only after the quality gate
(`skill_check_video`: codecs, size, platform length limits, loudness, black or frozen
stretches, captions in frame) and the rights policy: with `CHIMERA_GENERATE_RIGHTS_POLICY=
refuse_unknown` (the default) a video using any asset whose licence is unknown is refused here,
as ContentFailed at stage `rights` with code RIGHTS_UNKNOWN_LICENCE, so it is never scheduled
for publishing. This is the one place the policy is enforced: nothing downstream of
ContentReady needs to know it. Every asset's origin and licence (the rights ledger) is in the
content's metadata and in the audit log (`content:rights`).

Skills run outside any transaction (rendering takes a while). The item's status moves to
`generating` first; the outcome — `ready` with ContentReady, or `failed` with ContentFailed —
commits together with the inbox record of the request. A crash in between redelivers the
request and the work is redone into the same file names, so there is still one outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from pydantic import Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.repositories import content
from agents.runtime import AgentRuntime, emits
from core.errors import ErrorCategory, ErrorInfo, ValidationError
from core.ids import derived_id
from events import AuditRecorded, ContentFailed, ContentReady, ContentRequested
from events.catalog import ContentFailedPayload, ContentReadyPayload
from skills.base import SkillInput
from skills.media.download import DownloadVideoInput, download_video
from skills.media.footage.select import unknown_licences
from skills.media.quality import CaptionBox, CheckVideoInput, CheckVideoOutput, check_video
from skills.media.render import GenerateVideoInput, GenerateVideoOutput, ScriptLines, generate_video
from skills.media.transcribe import TranscribeAudioInput, transcribe_audio
from skills.script.models import Script, WriteScriptInput
from skills.script.skill import write_script

AGENT = "generate"
CONSUMER = "generate.requests"
ASPECT: dict[str, Literal["9:16", "16:9", "1:1"]] = {
    "vertical": "9:16",
    "landscape": "16:9",
    "square": "1:1",
}
VIDEO_PLATFORMS = {"youtube", "tiktok", "twitter"}
Stage = Literal["download", "transcribe", "script", "render", "quality", "rights", "store"]
InT = TypeVar("InT", bound=SkillInput)


class GenerateSettings(BaseSettings):
    """Configured with CHIMERA_GENERATE_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_GENERATE_", extra="ignore")

    download_reference: bool = Field(
        default=True, description="Fetch the trend's video (YouTube/TikTok/X) as background."
    )
    transcribe: bool = Field(default=True, description="Transcribe the reference video.")
    narrate: bool = Field(
        default=True, description="Speak the script (Piper; espeak-ng without a neural voice)."
    )
    target_duration_s: int = Field(default=30, ge=10, le=60)
    resolution_scale: float = Field(default=1.0, gt=0.1, le=1.0)
    preset: str | None = None
    reference_footage: bool = Field(
        default=False,
        description="Show the trend's reference clip where no footage matches (its licence is "
        "unknown: with the refuse_unknown policy such a video is refused).",
    )
    rights_policy: Literal["refuse_unknown", "allow_unknown"] = Field(
        default="refuse_unknown",
        description="refuse_unknown: a video using an asset of unknown licence fails (rights).",
    )
    quality_gate: bool = Field(default=True, description="Check every video before ContentReady.")


class StageFailed(Exception):
    def __init__(self, stage: Stage, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.stage = stage
        self.error = error


def _valid(stage: Stage, build: Callable[[], InT]) -> InT:
    """A skill input built from the request and the settings; one that does not validate
    (a bad setting, say) fails the stage like a refusal of the skill would."""
    try:
        return build()
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise StageFailed(
            stage,
            ValidationError(
                f"invalid input for the {stage} stage: {problems}", code="INVALID_INPUT"
            ).info,
        ) from exc


def _error(error: ErrorInfo | None, what: str) -> ErrorInfo:
    return error or ErrorInfo(code="UNKNOWN_ERROR", message=f"{what} failed without saying why")


async def _reference(
    rt: AgentRuntime, request: ContentRequested, settings: GenerateSettings
) -> tuple[str | None, str | None]:
    """The reference clip and its transcript, when the trend has a video we may fetch.

    A reference is optional: a refused or unsupported URL, or no speech model, means the
    video is made without it. Only a transient download error fails the item (to retry).
    """
    trend = request.payload.trend
    if not settings.download_reference or trend.platform not in VIDEO_PLATFORMS:
        return None, None
    download = await rt.skills(download_video, DownloadVideoInput(url=trend.url))
    if not download.success:
        if download.error is not None and download.error.category is ErrorCategory.TRANSIENT:
            raise StageFailed("download", download.error)
        return None, None
    if not settings.transcribe or download.path is None:
        return download.path, None
    transcript = await rt.skills(transcribe_audio, TranscribeAudioInput(media_path=download.path))
    return download.path, (transcript.text if transcript.success else None)


def check_rights(video: GenerateVideoOutput, settings: GenerateSettings) -> None:
    """The rights policy over the video's assets; raises StageFailed("rights") to refuse."""
    unknown = unknown_licences(video.assets)
    if unknown and settings.rights_policy == "refuse_unknown":
        names = ", ".join(f"{a.provider}:{a.id}" for a in unknown)
        raise StageFailed(
            "rights",
            ValidationError(
                f"assets of unknown licence: {names} "
                "(CHIMERA_GENERATE_RIGHTS_POLICY=refuse_unknown)",
                code="RIGHTS_UNKNOWN_LICENCE",
                details={"assets": [a.model_dump(mode="json") for a in unknown]},
            ).info,
        )


async def quality(
    rt: AgentRuntime, request: ContentRequested, video: GenerateVideoOutput
) -> CheckVideoOutput:
    """The quality gate; raises StageFailed("quality") with the measured values."""
    assert video.path is not None
    checked = await rt.skills(
        check_video,
        _valid(
            "quality",
            lambda: CheckVideoInput(
                path=str(video.path),
                width=video.width,
                height=video.height,
                platforms=request.payload.platforms,
                caption_boxes=[CaptionBox(**b.model_dump()) for b in video.caption_boxes],
            ),
        ),
    )
    if not checked.success:
        raise StageFailed("quality", _error(checked.error, "the quality gate"))
    return checked


async def make_content(
    rt: AgentRuntime, request: ContentRequested, settings: GenerateSettings
) -> tuple[Script, GenerateVideoOutput]:
    """Run the stages; raises StageFailed naming the stage that failed."""
    p = request.payload
    reference, transcript = await _reference(rt, request, settings)
    written = await rt.skills(
        write_script,
        _valid(
            "script",
            lambda: WriteScriptInput(
                trend=p.trend, transcript=transcript, target_duration_s=settings.target_duration_s
            ),
        ),
    )
    if not written.success or written.script is None:
        raise StageFailed("script", _error(written.error, "writing the script"))
    script = written.script
    video = await rt.skills(
        generate_video,
        _valid(
            "render",
            lambda: GenerateVideoInput(
                script=ScriptLines(
                    title=script.title,
                    hook=script.hook,
                    body=script.body,
                    call_to_action=script.call_to_action,
                ),
                aspect=ASPECT[p.format],
                resolution_scale=settings.resolution_scale,
                background_video=reference if settings.reference_footage else None,
                narrate=settings.narrate,
                target_duration_s=settings.target_duration_s,
                keywords=[p.trend.topic, *p.trend.tags][:20],
                thumbnail_url=p.trend.thumbnail_url,
                preset=settings.preset,
                output_name=f"{p.content_id}.mp4",
            ),
        ),
    )
    if not video.success or video.path is None:
        raise StageFailed("render", _error(video.error, "rendering"))
    if settings.quality_gate:
        await quality(rt, request, video)
    check_rights(video, settings)
    return script, video


def on_content_requested(
    settings: GenerateSettings,
) -> Callable[[ContentRequested, AgentRuntime], Awaitable[None]]:
    @emits(ContentReady, ContentFailed, AuditRecorded)
    async def handle(event: ContentRequested, rt: AgentRuntime) -> None:
        p = event.payload
        async with rt.transaction() as tx:
            previous = await content.set_content_status(tx.conn, p.content_id, "generating")
            await tx.audit(
                "content:generating",
                cause=event,
                discriminator=str(p.attempt),
                input_data={"content_id": p.content_id, "previous": previous},
            )
        try:
            script, video = await make_content(rt, event, settings)
        except StageFailed as failed:
            async with rt.transaction() as tx:
                if not await tx.claim(CONSUMER, event):
                    return
                await content.set_content_status(tx.conn, p.content_id, "failed")
                await tx.emit(
                    ContentFailed.create(
                        ContentFailedPayload(
                            content_id=p.content_id,
                            trend_id=p.trend.id,
                            stage=failed.stage,
                            error=failed.error,
                            attempt=p.attempt,
                        ),
                        producer=AGENT,
                        causation=event,
                        event_id=derived_id("failed", event.event_id),
                    ),
                    key=p.content_id,
                )
                await tx.audit(
                    "content:failed",
                    status="failure",
                    cause=event,
                    output_data={"stage": failed.stage, "error": failed.error.code},
                )
            return
        assert video.path is not None  # make_content checked it
        async with rt.transaction() as tx:
            if not await tx.claim(CONSUMER, event):
                return
            description = "\n\n".join(filter(None, [script.description, " ".join(script.hashtags)]))
            await content.set_content_status(
                tx.conn,
                p.content_id,
                "ready",
                script=script.model_dump_json(),
                local_path=video.path,
                metadata={
                    "duration": video.duration,
                    "resolution": video.resolution,
                    "sha256": video.sha256,
                    "size": video.size,
                    "format": p.format,
                    "has_audio": video.has_audio,
                    "title": script.title,
                    "voice": video.voice.model_dump(mode="json") if video.voice else None,
                    "captions": {"style": video.caption_style, "timing": video.caption_timing},
                    "visuals": video.visuals,
                    "cuts": video.cuts,
                    "music": video.music,
                    "loudness": video.loudness.model_dump() if video.loudness else None,
                    "assets": [a.model_dump(mode="json") for a in video.assets],
                },
            )
            await tx.audit(
                "content:rights",
                cause=event,
                output_data={
                    "content_id": p.content_id,
                    "assets": [a.model_dump(mode="json") for a in video.assets],
                },
            )
            await tx.emit(
                ContentReady.create(
                    ContentReadyPayload(
                        content_id=p.content_id,
                        trend_id=p.trend.id,
                        path=video.path,
                        duration=video.duration,
                        width=video.width,
                        height=video.height,
                        sha256=video.sha256,
                        title=script.title,
                        description=description,
                        tags=[h.lstrip("#") for h in script.hashtags],
                        script="\n".join(script.lines),
                        attempt=p.attempt,
                    ),
                    producer=AGENT,
                    causation=event,
                    event_id=derived_id("ready", event.event_id),
                ),
                key=p.content_id,
            )
            await tx.audit(
                "content:ready",
                cause=event,
                output_data={
                    "content_id": p.content_id,
                    "path": video.path,
                    "duration": video.duration,
                },
            )

    return handle
