"""The generate agent: download → transcribe → script → render, one content item at a time.

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
from skills.footage.filesystem import FindFootageInput, find_footage
from skills.media.download import DownloadVideoInput, download_video
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
Stage = Literal["download", "transcribe", "script", "render", "store"]
InT = TypeVar("InT", bound=SkillInput)
#: An asset of a video and its licence (`skills.archive.skill.AssetLicence`, as JSON).
Asset = dict[str, str | None]


class GenerateSettings(BaseSettings):
    """Configured with CHIMERA_GENERATE_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_GENERATE_", extra="ignore")

    download_reference: bool = Field(
        default=True, description="Fetch the trend's video (YouTube/TikTok/X) as background."
    )
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


async def _footage(rt: AgentRuntime, request: ContentRequested) -> tuple[str | None, Asset | None]:
    """A licensed clip from the footage library (Filesystem MCP server), when one is set up
    (CHIMERA_FOOTAGE_ROOTS) and the video has no reference clip. Optional like the reference:
    no clip means no background; only a transient failure fails the item (to retry)."""
    if not rt.skills.ctx.settings.mcp.footage_enabled:
        return None, None
    p = request.payload
    found = await rt.skills(
        find_footage,
        FindFootageInput(words=[p.trend.topic, p.trend.title, *p.trend.tags], seed=p.content_id),
    )
    if not found.success:
        if found.error is not None and found.error.category is ErrorCategory.TRANSIENT:
            raise StageFailed("download", found.error)
        return None, None
    if found.path is None or found.licence is None:
        return None, None
    return found.path, found.licence.model_dump(mode="json")


async def make_content(
    rt: AgentRuntime, request: ContentRequested, settings: GenerateSettings
) -> tuple[Script, GenerateVideoOutput, list[Asset]]:
    """Run the stages; raises StageFailed naming the stage that failed. Also returns the
    assets the video is made of, with their licences (the content archive records them)."""
    p = request.payload
    assets: list[Asset] = []
    reference, transcript = await _reference(rt, request, settings)
    if reference is not None:
        assets.append(
            {
                "kind": "reference_video",
                "source": p.trend.url,
                "licence": "unknown: the trend's own video, fetched as a reference",
            }
        )
    else:
        reference, footage = await _footage(rt, request)
        if footage is not None:
            assets.append(footage)
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
                background_video=reference,
                narrate=settings.narrate,
                preset=settings.preset,
                output_name=f"{p.content_id}.mp4",
            ),
        ),
    )
    if not video.success or video.path is None:
        raise StageFailed("render", _error(video.error, "rendering"))
    return script, video, assets


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
            script, video, assets = await make_content(rt, event, settings)
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
                    "assets": assets,
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
