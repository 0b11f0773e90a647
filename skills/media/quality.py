"""`skill_check_video`: the quality gate a video passes before it is declared ready.

Checks, each with a code and the measured value when it fails:

| code                      | check                                                          |
|---------------------------|----------------------------------------------------------------|
| QUALITY_VIDEO_CODEC       | H.264, profile High or Main (ffprobe)                          |
| QUALITY_PIXEL_FORMAT      | yuv420p                                                        |
| QUALITY_AUDIO_CODEC       | an AAC audio stream                                            |
| QUALITY_RESOLUTION        | the requested width x height (so the aspect too)               |
| QUALITY_TOO_LONG / _SHORT | within every target platform's limits (`PLATFORM_LIMITS`)      |
| QUALITY_LOUDNESS          | integrated loudness within target ± tolerance (ebur128)        |
| QUALITY_TRUE_PEAK         | true peak at most the ceiling (ebur128, 4x oversampled)        |
| QUALITY_BLACK             | no black stretch longer than 2 s (blackdetect)                 |
| QUALITY_FROZEN            | no frozen stretch longer than 2 s (freezedetect)               |
| QUALITY_CAPTIONS_OUTSIDE  | every caption box inside the frame (and the 9:16 safe area)    |

One decoding pass measures loudness, black and frozen stretches (the picture scaled down for
the detectors: black and stillness do not depend on size). A failing video is a
ValidationError whose code is the first failed check's and whose details list every failure
with its measured and allowed values.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from core.errors import PermanentError, ValidationError
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext
from skills.media.captions import Box, safe_area
from skills.media.common import media_path
from skills.media.sound import Loudness, parse_ebur128, run_ffmpeg

Platform = Literal["youtube", "tiktok", "twitter", "local"]

#: (shortest, longest) video in seconds each platform accepts for its short-form format:
#: YouTube Shorts up to 3 minutes; X 2 min 20 s (140 s) for most accounts; TikTok up to 10
#: minutes by upload (its Content Posting API's creator_info may say less for an account).
PLATFORM_LIMITS: dict[str, tuple[float, float]] = {
    "youtube": (1.0, 180.0),
    "twitter": (0.5, 140.0),
    "tiktok": (3.0, 600.0),
    "local": (0.5, 3600.0),
}
VIDEO_PROFILES = ("High", "Main")
DEFAULT_PLATFORMS: tuple[Platform, ...] = ("youtube",)
MAX_STILL_S = 2.0


class CaptionBox(BaseModel):
    """Where a caption was drawn, in frame pixels."""

    x: int
    y: int
    w: int
    h: int


class CheckVideoInput(SkillInput):
    """The video to check and what it must be."""

    path: str = Field(min_length=1, max_length=4096, description="A video under the media root.")
    width: int = Field(ge=2, le=8192)
    height: int = Field(ge=2, le=8192)
    platforms: list[Platform] = Field(default_factory=lambda: list(DEFAULT_PLATFORMS), min_length=1)
    loudness_lufs: float | None = Field(default=None, description="Default: the setting (-14).")
    loudness_tolerance_lu: float = Field(default=1.0, gt=0, le=10)
    true_peak_db: float | None = Field(default=None, description="Default: the setting (-1).")
    caption_boxes: list[CaptionBox] = Field(default_factory=list, max_length=5000)
    max_still_s: float = Field(default=MAX_STILL_S, gt=0, le=60)


class Problem(BaseModel):
    """One failed check: its code, what was measured and what is allowed."""

    code: str
    message: str
    measured: str | float | None = None
    allowed: str | None = None


class CheckVideoOutput(SkillOutput):
    """What was measured (a failing video is an error whose details hold the problems)."""

    duration: float = 0.0
    video_codec: str = ""
    video_profile: str = ""
    pixel_format: str = ""
    audio_codec: str = ""
    width: int = 0
    height: int = 0
    loudness: Loudness | None = None
    black_stretches: list[tuple[float, float]] = Field(default_factory=list)
    frozen_stretches: list[tuple[float, float]] = Field(default_factory=list)


async def ffprobe(path: Path) -> dict[str, object]:
    """ffprobe's JSON (streams and format) for `path`."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise PermanentError("ffprobe is not installed", code="FFMPEG_UNAVAILABLE")
    proc = await asyncio.create_subprocess_exec(
        *(exe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise ValidationError(
            f"ffprobe cannot read {path.name}: {err.decode(errors='replace')[:300]}",
            code="UNREADABLE_MEDIA",
        )
    data: dict[str, object] = json.loads(out)
    return data


_BLACK = re.compile(r"black_start:\s*([\d.]+)\s+black_end:\s*([\d.]+)")
_FREEZE_START = re.compile(r"freeze_start:\s*([\d.]+)")
_FREEZE_END = re.compile(r"freeze_end:\s*([\d.]+)")


async def scan(
    path: Path, duration: float, has_audio: bool, still_s: float
) -> tuple[Loudness | None, list[tuple[float, float]], list[tuple[float, float]]]:
    """Loudness, black stretches and frozen stretches (longer than `still_s`) in one pass."""
    video = (
        f"[0:v]scale=160:-2,blackdetect=d={still_s}:pix_th=0.10,freezedetect=n=-60dB:d={still_s}[v]"
    )
    graph = video + (";[0:a]ebur128=peak=true[a]" if has_audio else "")
    maps = ["-map", "[v]"] + (["-map", "[a]"] if has_audio else [])
    _, err = await run_ffmpeg(["-i", str(path), "-filter_complex", graph, *maps, "-f", "null", "-"])
    black = [(float(a), float(b)) for a, b in _BLACK.findall(err)]
    starts = [float(s) for s in _FREEZE_START.findall(err)]
    ends = [float(e) for e in _FREEZE_END.findall(err)]
    frozen = [(s, ends[i] if i < len(ends) else duration) for i, s in enumerate(starts)]
    return (parse_ebur128(err) if has_audio else None), black, frozen


def _stream(probe: dict[str, object], kind: str) -> dict[str, object]:
    streams = probe.get("streams")
    for stream in streams if isinstance(streams, list) else []:
        if isinstance(stream, dict) and stream.get("codec_type") == kind:
            return stream
    return {}


@skill("skill_check_video")
async def check_video(data: CheckVideoInput, ctx: SkillContext) -> CheckVideoOutput:
    """Check a rendered video before it is published (codec, size, length, loudness, black or
    frozen stretches, captions in frame). A failure is a ValidationError with the check's code
    and every failed check's measured value."""
    cfg = ctx.settings.media
    path = media_path(ctx.paths, data.path)
    ctx.report("quality", 0.0, "checking the video")
    info = await ffprobe(path)
    video, audio = _stream(info, "video"), _stream(info, "audio")
    fmt = info.get("format") if isinstance(info.get("format"), dict) else {}
    assert isinstance(fmt, dict)
    duration = float(str(fmt.get("duration") or 0.0))
    problems: list[Problem] = []

    def fail(code: str, message: str, measured: str | float | None, allowed: str) -> None:
        problems.append(Problem(code=code, message=message, measured=measured, allowed=allowed))

    codec, profile = str(video.get("codec_name", "")), str(video.get("profile", ""))
    if codec != "h264" or profile not in VIDEO_PROFILES:
        fail(
            "QUALITY_VIDEO_CODEC",
            "video must be H.264 High or Main",
            f"{codec} {profile}",
            "h264 High|Main",
        )
    pix = str(video.get("pix_fmt", ""))
    if pix != "yuv420p":
        fail("QUALITY_PIXEL_FORMAT", "pixel format must be yuv420p", pix, "yuv420p")
    acodec = str(audio.get("codec_name", ""))
    if acodec != "aac":
        fail("QUALITY_AUDIO_CODEC", "audio must be AAC", acodec or "none", "aac")
    width, height = int(str(video.get("width") or 0)), int(str(video.get("height") or 0))
    if (width, height) != (data.width, data.height):
        fail(
            "QUALITY_RESOLUTION",
            "resolution differs from the request",
            f"{width}x{height}",
            f"{data.width}x{data.height}",
        )
    for platform in data.platforms:
        shortest, longest = PLATFORM_LIMITS[platform]
        if duration > longest:
            fail(
                "QUALITY_TOO_LONG",
                f"too long for {platform}",
                round(duration, 2),
                f"<= {longest} s",
            )
        elif duration < shortest:
            fail(
                "QUALITY_TOO_SHORT",
                f"too short for {platform}",
                round(duration, 2),
                f">= {shortest} s",
            )

    frame = Box(0, 0, data.width, data.height)
    safe = safe_area(data.width, data.height) if data.height > data.width else frame
    for box in data.caption_boxes:
        placed = Box(box.x, box.y, box.w, box.h)
        if not placed.inside(safe):
            fail(
                "QUALITY_CAPTIONS_OUTSIDE",
                "a caption leaves the frame or the safe area",
                f"{box.x},{box.y} {box.w}x{box.h}",
                f"inside {safe.x},{safe.y} {safe.w}x{safe.h}",
            )
            break

    ctx.report("quality", 0.3, "loudness, black and frozen stretches")
    loudness, black, frozen = await scan(path, duration, bool(audio), data.max_still_s)
    target = data.loudness_lufs if data.loudness_lufs is not None else cfg.loudness_lufs
    ceiling = data.true_peak_db if data.true_peak_db is not None else cfg.true_peak_db
    if loudness is not None:
        if abs(loudness.integrated_lufs - target) > data.loudness_tolerance_lu:
            fail(
                "QUALITY_LOUDNESS",
                "integrated loudness out of range",
                loudness.integrated_lufs,
                f"{target} ± {data.loudness_tolerance_lu} LUFS",
            )
        if loudness.true_peak_dbtp > ceiling:
            fail(
                "QUALITY_TRUE_PEAK",
                "true peak too high",
                loudness.true_peak_dbtp,
                f"<= {ceiling} dBTP",
            )
    for start, end in black:
        if end - start > data.max_still_s:
            fail(
                "QUALITY_BLACK",
                "a black stretch",
                f"{start:.2f}-{end:.2f} s",
                f"<= {data.max_still_s} s",
            )
            break
    for start, end in frozen:
        if end - start > data.max_still_s:
            fail(
                "QUALITY_FROZEN",
                "a frozen stretch",
                f"{start:.2f}-{end:.2f} s",
                f"<= {data.max_still_s} s",
            )
            break
    ctx.report("quality", 1.0, "failed" if problems else "passed")
    if problems:
        raise ValidationError(
            "; ".join(
                f"{p.code}: {p.message} ({p.measured}, allowed {p.allowed})" for p in problems
            ),
            code=problems[0].code,
            details={
                "problems": [p.model_dump() for p in problems],
                "loudness": loudness.model_dump() if loudness else None,
                "duration": duration,
            },
        )
    return CheckVideoOutput(
        success=True,
        duration=duration,
        video_codec=codec,
        video_profile=profile,
        pixel_format=pix,
        audio_codec=acodec,
        width=width,
        height=height,
        loudness=loudness,
        black_stretches=black,
        frozen_stretches=frozen,
    )
