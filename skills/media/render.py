"""`skill_generate_video`: render a short video from a script with moviepy 2.

What keeps it fast (moviepy 2.1/2.2 slow down badly on composited clips and text, issues 2395,
2506, 2543; the cost is per-frame Python work between the ffmpeg pipes):

* every text (title, captions) is rendered ONCE to an RGBA image with Pillow (never
  `TextClip`, which re-rasterises), and pre-multiplied once;
* compositing is one flat frame function (`Compositor`, a moviepy `VideoClip`): the background
  plus the texts showing at that time, blended in integer numpy over their boxes only; no
  `CompositeVideoClip` at all, so no floating-point masks per frame;
* with a colour background, a frame whose texts are those of the previous frame IS the
  previous frame: each caption is blended once, not once per frame;
* a background video is scaled by ffmpeg while decoding (moviepy's `target_resolution`) and
  cropped by slicing; it loops by taking the time modulo its duration;
* the x264 preset and encoder threads are settings (and per-call options).

Measured here (2 shared cores), a 5 s 1080x1920 video at 30 fps with title and four captions:
16.4 s with ImageClips in a CompositeVideoClip, 1.6 s (ultrafast) / 2.8 s (veryfast) with the
compositor, same output; over a looped background video, 7.3 s (veryfast).

Sizes: vertical 1080x1920 by default, 16:9 (1920x1080) or 1:1 (1080x1080) on request;
`resolution_scale` shrinks them (tests, previews, benchmarks), rounded to even numbers as
yuv420p requires.

Captions come from transcript segments when given, otherwise the script's lines are spread over
the narration (or the requested duration) in proportion to their length. Narration is a given
audio file, or espeak-ng speaking the script when asked.

The file is written to a temporary name in the target folder and renamed into place, so a
reader never sees half a video.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from core.errors import PermanentError, TransientError, ValidationError
from core.private import private_dir, private_file
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext, SkillPaths
from skills.media.common import LoopSemaphores, media_path, probe, sha256_file
from skills.settings.media import X264_PRESETS, MediaSettings

ASPECTS: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "16:9": (1920, 1080),
    "1:1": (1080, 1080),
}
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
_SEMAPHORES = LoopSemaphores()


class ScriptLines(BaseModel):
    """The words of a short video: shown as captions, and spoken when narration is asked."""

    title: str | None = Field(default=None, max_length=200)
    hook: str | None = Field(default=None, max_length=500)
    body: list[str] = Field(default_factory=list, max_length=100)
    call_to_action: str | None = Field(default=None, max_length=500)

    def lines(self) -> list[str]:
        """The spoken lines in order: hook, body, call to action."""
        found = [self.hook, *self.body, self.call_to_action]
        return [line.strip() for line in found if line and line.strip()]


class CaptionCue(BaseModel):
    """A caption with its timing (e.g. a segment of `skill_transcribe_audio`'s output)."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str = Field(max_length=1000)

    @model_validator(mode="after")
    def _ordered(self) -> CaptionCue:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class GenerateVideoInput(SkillInput):
    """What to render: the script, the look, the sound and the encoding."""

    script: ScriptLines
    aspect: Literal["9:16", "16:9", "1:1"] = "9:16"
    resolution_scale: float = Field(default=1.0, ge=0.1, le=1.0)
    background_video: str | None = Field(
        default=None, max_length=4096, description="A video under the media root."
    )
    background_color: str = Field(default="#101018", pattern=r"^#[0-9A-Fa-f]{6}$")
    narration_audio: str | None = Field(
        default=None, max_length=4096, description="An audio file under the media root."
    )
    narrate: bool = Field(default=False, description="Speak the script with espeak-ng.")
    voice: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_+\-]{1,40}$")
    captions: list[CaptionCue] | None = Field(default=None, max_length=2000)
    duration_s: float | None = Field(default=None, gt=0, le=3600)
    fps: int | None = Field(default=None, ge=1, le=60)
    preset: str | None = None
    threads: int | None = Field(default=None, ge=1, le=64)
    output_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {value!r}")
        return value

    @model_validator(mode="after")
    def _one_narration(self) -> GenerateVideoInput:
        if self.narrate and self.narration_audio:
            raise ValueError("give narration_audio or narrate, not both")
        return self


class GenerateVideoOutput(SkillOutput):
    """The rendered file."""

    path: str | None = None
    duration: float = 0.0
    width: int = 0
    height: int = 0
    resolution: str = ""
    size: int = 0
    sha256: str = ""
    has_audio: bool = False
    captions: int = 0


# --- Planning -----------------------------------------------------------------------------------
def frame_size(aspect: str, scale: float) -> tuple[int, int]:
    """The frame size for an aspect and scale, each side even (yuv420p needs it)."""
    base_w, base_h = ASPECTS[aspect]
    return (max(2, round(base_w * scale / 2) * 2), max(2, round(base_h * scale / 2) * 2))


def spoken_seconds(text: str, words_per_minute: int) -> float:
    """How long a line takes to say (and to read), at least 1.2 s."""
    words = len(text.split())
    return max(1.2, words * 60.0 / words_per_minute)


def plan_captions(lines: list[str], duration: float) -> list[CaptionCue]:
    """Spread `lines` over `duration`, each for a time in proportion to its length.

    The cues are contiguous, in order, and together cover exactly [0, duration].
    """
    if not lines or duration <= 0:
        return []
    weights = [max(len(line), 8) for line in lines]  # a short line still needs reading time
    total = sum(weights)
    cues: list[CaptionCue] = []
    start = 0.0
    for i, (line, weight) in enumerate(zip(lines, weights, strict=True)):
        end = duration if i == len(lines) - 1 else start + duration * weight / total
        cues.append(CaptionCue(start=start, end=end, text=line))
        start = end
    return cues


# --- Text images ----------------------------------------------------------------------------------
def _font(path: str | None, size: int) -> Any:
    # Cached per thread: a FreeType face is not meant to be shared between threads.
    return _thread_font(path, size, threading.get_ident())


@lru_cache(maxsize=64)
def _thread_font(path: str | None, size: int, _thread: int) -> Any:
    from PIL import ImageFont

    for candidate in ([path] if path else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)  # Pillow's own scalable font


def _wrap(text: str, font: Any, max_width: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [text]:
        current = ""
        for word in paragraph.split():
            trial = f"{current} {word}".strip()
            if current and font.getlength(trial) > max_width:
                lines.append(current)
                current = word
            else:
                current = trial
        if current:
            lines.append(current)
    return lines


def text_image(
    text: str, width: int, font_size: int, font_path: str | None, box_alpha: int = 150
) -> Any:
    """`text` wrapped to `width`, white with a dark outline on a translucent box: an RGBA
    numpy array, rendered once."""
    import numpy as np
    from PIL import Image, ImageDraw

    font = _font(font_path, font_size)
    pad = max(4, font_size // 3)
    stroke = max(1, font_size // 14)
    lines = _wrap(text, font, width - 2 * pad - 2 * stroke) or [" "]
    ascent, descent = font.getmetrics()
    line_h = ascent + descent + stroke * 2
    text_w = max(int(font.getlength(line)) for line in lines) + 2 * stroke
    img_w = min(width, text_w + 2 * pad)
    img_h = line_h * len(lines) + 2 * pad
    image = Image.new("RGBA", (img_w, img_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, img_w - 1, img_h - 1), radius=pad, fill=(0, 0, 0, box_alpha))
    for i, line in enumerate(lines):
        line_w = font.getlength(line)
        draw.text(
            ((img_w - line_w) / 2, pad + i * line_h + stroke),
            line,
            font=font,
            fill=(255, 255, 255, 255),
            stroke_width=stroke,
            stroke_fill=(0, 0, 0, 255),
        )
    return np.asarray(image)


# --- Narration ------------------------------------------------------------------------------------
async def speak(text: str, out: Path, voice: str, words_per_minute: int) -> Path:
    """Speak `text` into a WAV file with espeak-ng (text on stdin: never parsed as options)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise PermanentError(
            "narration asked but espeak-ng is not installed", code="TTS_UNAVAILABLE"
        )
    proc = await asyncio.create_subprocess_exec(
        exe,
        "-v",
        voice,
        "-s",
        str(words_per_minute),
        "-w",
        str(out),
        "--stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(text.encode()), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise TransientError("espeak-ng timed out", code="TTS_TIMEOUT") from None
    if proc.returncode != 0 or not out.is_file():
        raise PermanentError(
            f"espeak-ng failed: {err.decode(errors='replace')[:300]}",
            code="TTS_FAILED",
            details={"voice": voice},
        )
    return out


# --- Rendering ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderPlan:
    """Everything the blocking renderer needs, decided up front."""

    width: int
    height: int
    duration: float
    fps: int
    title: str | None
    cues: list[CaptionCue]
    background_video: Path | None
    background_rgb: tuple[int, int, int]
    narration: Path | None
    preset: str
    threads: int | None
    crf: int
    font_path: str | None
    target: Path


@dataclass
class Overlay:
    """A text image placed on the frame for a time, pre-multiplied once for fast blending."""

    x: int
    y: int
    start: float
    end: float
    fg: Any  # uint16 (h, w, 3): rgb * alpha
    inv: Any  # uint16 (h, w, 1): 255 - alpha

    @classmethod
    def of(
        cls, rgba: Any, x: int, y: int, start: float, end: float, width: int, height: int
    ) -> Overlay:
        import numpy as np

        # Keep the part inside the frame (a long text could overflow at small scales).
        left, top = max(0, -x), max(0, -y)
        rgba = rgba[top : max(top, height - y), left : max(left, width - x)]
        alpha = rgba[..., 3:4].astype(np.uint16)
        return cls(
            x + left, y + top, start, end, rgba[..., :3].astype(np.uint16) * alpha, 255 - alpha
        )

    def blend(self, frame: Any) -> None:
        import numpy as np

        h, w = self.fg.shape[:2]
        region = frame[self.y : self.y + h, self.x : self.x + w]
        # out = (fg*a + bg*(255-a)) / 255 in integers (+127 rounds).
        region[:] = ((self.fg + region.astype(np.uint16) * self.inv + 127) // 255).astype(np.uint8)


class Compositor:
    """Makes each frame: background, then the overlays showing at that time.

    This is the whole of the compositing, flat and in integer numpy: no CompositeVideoClip,
    no per-frame masks in floating point. With a colour background and the same overlays as
    the previous frame, the previous frame is returned as it is: a caption that shows for
    three seconds is blended once, not ninety times.
    """

    def __init__(self, plan: RenderPlan, overlays: list[Overlay]) -> None:
        import numpy as np

        self.plan = plan
        self.overlays = overlays
        self.video: Any = None
        self.still = np.empty((plan.height, plan.width, 3), np.uint8)
        self.still[:] = plan.background_rgb
        self._last: tuple[tuple[int, ...], Any] | None = None
        if plan.background_video is not None:
            from moviepy import VideoFileClip

            probe_clip = VideoFileClip(str(plan.background_video), audio=False)
            w, h = probe_clip.w, probe_clip.h
            probe_clip.close()
            # Cover the frame: ffmpeg scales while decoding (fast, in C); the middle is cropped
            # here by slicing (free).
            scale = max(plan.width / w, plan.height / h)
            self.bg_w = max(plan.width, round(w * scale))
            self.bg_h = max(plan.height, round(h * scale))
            self.video = VideoFileClip(
                str(plan.background_video), audio=False, target_resolution=(self.bg_w, self.bg_h)
            )
            self.x0 = (self.video.w - plan.width) // 2
            self.y0 = (self.video.h - plan.height) // 2

    def background(self, t: float) -> Any:
        if self.video is None:
            return self.still.copy()
        duration = self.video.duration or self.plan.duration
        frame = self.video.get_frame(t % duration if duration > 0 else 0)  # looped
        return frame[
            self.y0 : self.y0 + self.plan.height, self.x0 : self.x0 + self.plan.width
        ].copy()

    def __call__(self, t: float) -> Any:
        showing = tuple(i for i, o in enumerate(self.overlays) if o.start <= t < o.end)
        if self.video is None and self._last is not None and self._last[0] == showing:
            return self._last[1]
        frame = self.background(t)
        for i in showing:
            self.overlays[i].blend(frame)
        self._last = (showing, frame)
        return frame

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def _overlays(plan: RenderPlan) -> list[Overlay]:
    """Every text of the video rendered once to an image, with its place and time."""
    found: list[Overlay] = []
    margin = round(plan.height * 0.04)
    short_side = min(plan.width, plan.height)  # text scales with the short side of the frame
    if plan.title:
        image = text_image(
            plan.title,
            round(plan.width * 0.9),
            max(10, round(short_side * 0.07)),
            plan.font_path,
            box_alpha=110,
        )
        found.append(
            Overlay.of(
                image,
                (plan.width - image.shape[1]) // 2,
                margin,
                0.0,
                plan.duration + 1,
                plan.width,
                plan.height,
            )
        )
    caption_size = max(10, round(short_side * 0.06))
    for cue in plan.cues:
        start, end = min(cue.start, plan.duration), min(cue.end, plan.duration)
        if end - start < 1 / plan.fps or not cue.text.strip():
            continue
        image = text_image(cue.text, round(plan.width * 0.86), caption_size, plan.font_path)
        x = (plan.width - image.shape[1]) // 2
        y = round(plan.height * 0.72) - image.shape[0] // 2
        found.append(Overlay.of(image, x, y, start, end, plan.width, plan.height))
    return found


def render_blocking(plan: RenderPlan) -> None:
    """Render `plan` to `plan.target` (atomically) in the calling thread."""
    from moviepy import AudioFileClip, VideoClip

    compositor = Compositor(plan, _overlays(plan))
    video = VideoClip(compositor, duration=plan.duration)
    audio = None
    if plan.narration is not None:
        audio = AudioFileClip(str(plan.narration))
        video = video.with_audio(audio.subclipped(0, min(plan.duration, audio.duration)))

    folder = plan.target.parent
    tmp = folder / f".{plan.target.stem}.{uuid.uuid4().hex[:8]}.tmp.mp4"
    try:
        video.write_videofile(
            str(tmp),
            fps=plan.fps,
            codec="libx264",
            preset=plan.preset,
            threads=plan.threads,
            audio=audio is not None,
            audio_codec="aac" if audio is not None else None,
            temp_audiofile_path=str(folder),
            pixel_format="yuv420p",
            ffmpeg_params=["-crf", str(plan.crf), "-movflags", "+faststart"],
            logger=None,
        )
        os.replace(tmp, plan.target)
    finally:
        tmp.unlink(missing_ok=True)
        video.close()
        compositor.close()
        if audio is not None:
            audio.close()


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _target(paths: SkillPaths, name: str | None) -> Path:
    folder = private_dir(paths.media_dir / "renders")
    stem = re.sub(r"\.mp4$", "", name or f"video-{uuid.uuid4().hex[:12]}")
    return folder / f"{stem}.mp4"


async def _plan(
    data: GenerateVideoInput,
    paths: SkillPaths,
    cfg: MediaSettings,
    target: Path,
    scratch: list[Path],
) -> RenderPlan:
    width, height = frame_size(data.aspect, data.resolution_scale)
    lines = data.script.lines()
    if not lines and not data.captions and not data.script.title:
        raise ValidationError(
            "nothing to show: the script and captions are empty", code="EMPTY_SCRIPT"
        )
    background = media_path(paths, data.background_video) if data.background_video else None
    narration = media_path(paths, data.narration_audio) if data.narration_audio else None
    if data.narrate:
        if not lines:
            raise ValidationError(
                "narration asked but the script has no lines", code="EMPTY_SCRIPT"
            )
        wav = target.parent / f".{target.stem}.{uuid.uuid4().hex[:8]}.tts.wav"
        scratch.append(wav)
        narration = await speak(
            " ".join(lines), wav, data.voice or cfg.tts_voice, cfg.tts_words_per_minute
        )

    if narration is not None:
        try:
            narration_info = await asyncio.to_thread(probe, narration)
        except Exception as exc:
            raise ValidationError(
                f"cannot read narration audio: {exc}", code="UNREADABLE_MEDIA"
            ) from exc
        if not narration_info.has_audio:
            raise ValidationError("the narration file has no audio", code="NO_AUDIO")
        duration = data.duration_s or narration_info.duration
    elif data.duration_s:
        duration = data.duration_s
    elif data.captions:
        duration = max(c.end for c in data.captions)
    else:
        duration = sum(spoken_seconds(line, cfg.tts_words_per_minute) for line in lines) or 3.0
    if duration > cfg.render_max_duration_s:
        raise ValidationError(
            f"video would be {duration:.0f} s, the limit is {cfg.render_max_duration_s:.0f} s",
            code="DURATION_TOO_LONG",
        )
    if background is not None:
        try:
            if not (await asyncio.to_thread(probe, background)).has_video:
                raise ValidationError("the background file has no video", code="NO_VIDEO")
        except ValidationError:
            raise
        except Exception as exc:
            raise ValidationError(
                f"cannot read the background video: {exc}", code="UNREADABLE_MEDIA"
            ) from exc

    cues = list(data.captions) if data.captions else plan_captions(lines, duration)
    return RenderPlan(
        width=width,
        height=height,
        duration=duration,
        fps=data.fps or cfg.render_fps,
        title=data.script.title,
        cues=cues,
        background_video=background,
        background_rgb=_rgb(data.background_color),
        narration=narration,
        preset=data.preset or cfg.render_preset,
        threads=data.threads or cfg.render_threads,
        crf=cfg.render_crf,
        font_path=str(cfg.render_font_path) if cfg.render_font_path else None,
        target=target,
    )


@skill("skill_generate_video")
async def generate_video(data: GenerateVideoInput, ctx: SkillContext) -> GenerateVideoOutput:
    """Render a short video (vertical 1080x1920 by default) from a script with moviepy.

    Captions are burnt in (from transcript segments, or the script spread over the narration);
    narration is a given audio file or espeak-ng. Returns the file's path, duration,
    resolution, size and sha256.
    """
    cfg = ctx.settings.media
    target = _target(ctx.paths, data.output_name)
    scratch: list[Path] = []
    try:
        plan = await _plan(data, ctx.paths, cfg, target, scratch)
        async with _SEMAPHORES.get(cfg.render_concurrency):
            await asyncio.to_thread(render_blocking, plan)
    finally:
        for path in scratch:
            path.unlink(missing_ok=True)
    private_file(target)  # ffmpeg created it by the umask
    info = await asyncio.to_thread(probe, target)
    return GenerateVideoOutput(
        success=True,
        path=str(target),
        duration=info.duration,
        width=info.width or 0,
        height=info.height or 0,
        resolution=f"{info.width}x{info.height}",
        size=target.stat().st_size,
        sha256=await asyncio.to_thread(sha256_file, target),
        has_audio=info.has_audio,
        captions=len(plan.cues),
    )
