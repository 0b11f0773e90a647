"""The video, composed in one ffmpeg filter graph (no per-frame Python).

Each beat's visual is an input of its own, cut to its spoken duration (plus the crossfade):

* a clip: seeked to its offset, looped when shorter than the beat, scaled to cover the frame
  and centre-cropped (no letterbox), at the output frame rate;
* a still image: scaled to cover 1.2x the frame, then a slow zoom and pan (`zoompan`);
* nothing found: a gradient image (made by the caller), zoomed and panned like a still.

Consecutive beats crossfade (`xfade`, 0.3 s) so that each cut lands where its line begins.
The caption states are one more input (an ffmpeg concat list of PNGs with durations) overlaid
on the caption band; the title is a PNG overlaid on the first beat. The mastered soundtrack is
muxed as AAC. Progress comes from ffmpeg's `-progress` output (time encoded / duration).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import PermanentError, TransientError
from skills.media.captions import Box
from skills.media.footage.select import Visual
from skills.media.sound import ffmpeg_exe

FADE_S = 0.3


@dataclass(frozen=True)
class CaptionInput:
    """The caption overlay: a concat list of PNGs and where the band sits."""

    concat: Path
    band: Box


@dataclass(frozen=True)
class TitleInput:
    """The title overlay: a PNG, its place, and until when it shows."""

    image: Path
    box: Box
    until: float


@dataclass(frozen=True)
class Composition:
    """Everything the ffmpeg command is built from."""

    width: int
    height: int
    fps: int
    duration: float
    visuals: list[Visual]
    clip_durations: dict[Path, float]
    captions: CaptionInput | None
    title: TitleInput | None
    audio: Path
    preset: str
    crf: int
    threads: int | None
    target: Path


def _segment_lengths(visuals: list[Visual], duration: float) -> list[float]:
    """Each input's length: its beat, plus the crossfade into the next one."""
    lengths = []
    for i, visual in enumerate(visuals):
        end = visuals[i + 1].start if i + 1 < len(visuals) else duration
        length = max(1.0 / 30, end - visual.start)
        lengths.append(length + (FADE_S if i + 1 < len(visuals) else 0.0))
    return lengths


def build_command(c: Composition) -> list[str]:
    """The ffmpeg arguments (without the executable) for composition `c`."""
    W, H, fps = c.width, c.height, c.fps
    args: list[str] = []
    chains: list[str] = []
    lengths = _segment_lengths(c.visuals, c.duration)
    for i, (visual, length) in enumerate(zip(c.visuals, lengths, strict=True)):
        asset = visual.asset
        if asset.kind == "video" and asset.path is not None:
            clip = c.clip_durations.get(asset.path, 0.0)
            offset = visual.offset % clip if clip > length + 0.1 else 0.0
            loop = ["-stream_loop", "-1"] if clip < offset + length + 0.05 else []
            args += [*loop, "-ss", f"{offset:.3f}", "-t", f"{length:.3f}", "-i", str(asset.path)]
            chains.append(
                f"[{i}:v]scale={W}:{H}:force_original_aspect_ratio=increase:flags=bilinear,"
                f"crop={W}:{H},fps={fps},setsar=1,format=yuv420p,"
                f"trim=duration={length:.3f},setpts=PTS-STARTPTS[v{i}]"
            )
        elif asset.path is not None:  # a still (an image, or a generated gradient)
            frames = max(1, round(length * fps))
            args += ["-loop", "1", "-framerate", str(fps), "-t", f"{length:.3f}"]
            args += ["-i", str(asset.path)]
            zoom_w, zoom_h = round(W * 1.2 / 2) * 2, round(H * 1.2 / 2) * 2
            # Alternate the pan direction between stills.
            x = "(iw-iw/zoom)*on/{n}" if i % 2 == 0 else "(iw-iw/zoom)*(1-on/{n})"
            chains.append(
                f"[{i}:v]scale={zoom_w}:{zoom_h}:force_original_aspect_ratio=increase,"
                f"crop={zoom_w}:{zoom_h},setsar=1,"
                f"zoompan=z='1.0+0.12*on/{frames}':x='{x.format(n=frames)}'"
                f":y='(ih-ih/zoom)/2':d=1:s={W}x{H}:fps={fps},format=yuv420p,"
                f"trim=duration={length:.3f},setpts=PTS-STARTPTS[v{i}]"
            )
        else:
            raise PermanentError(f"beat {i} has no file to show", code="RENDER_FAILED")
    n = len(c.visuals)
    last = "v0"
    elapsed = lengths[0] - (FADE_S if n > 1 else 0.0)
    for i in range(1, n):
        out = f"x{i}"
        chains.append(
            f"[{last}][v{i}]xfade=transition=fade:duration={FADE_S}:offset={elapsed:.3f}[{out}]"
        )
        elapsed += lengths[i] - (FADE_S if i + 1 < n else 0.0)
        last = out
    next_input = n
    if c.captions is not None:
        args += ["-f", "concat", "-safe", "0", "-i", str(c.captions.concat)]
        chains.append(
            f"[{last}][{next_input}:v]overlay=x={c.captions.band.x}:y={c.captions.band.y}"
            ":eof_action=pass:repeatlast=0[cap]"
        )
        last = "cap"
        next_input += 1
    if c.title is not None:
        args += ["-loop", "1", "-framerate", str(fps), "-t", f"{c.title.until:.3f}"]
        args += ["-i", str(c.title.image)]
        chains.append(
            f"[{last}][{next_input}:v]overlay=x={c.title.box.x}:y={c.title.box.y}"
            ":eof_action=pass:repeatlast=0[ttl]"
        )
        last = "ttl"
        next_input += 1
    chains.append(f"[{last}]format=yuv420p[vout]")
    args += ["-i", str(c.audio)]
    args += ["-filter_complex", ";".join(chains)]
    args += ["-map", "[vout]", "-map", f"{next_input}:a"]
    args += ["-c:v", "libx264", "-preset", c.preset, "-crf", str(c.crf)]
    # High profile whatever the preset (ultrafast alone would give Constrained Baseline).
    args += ["-profile:v", "high", "-x264-params", "cabac=1:8x8dct=1"]
    args += ["-pix_fmt", "yuv420p", "-r", str(fps)]
    if c.threads:
        args += ["-threads", str(c.threads)]
    args += ["-c:a", "aac", "-b:a", "160k", "-ar", "48000"]
    args += ["-t", f"{c.duration:.3f}", "-movflags", "+faststart"]
    return args


async def run(
    c: Composition,
    out: Path,
    on_progress: Callable[[float], None],
    timeout: float = 1800,  # noqa: ASYNC109
) -> None:
    """Run the composition into `out`, reporting the fraction encoded."""
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    args += ["-progress", "pipe:1", "-nostats", *build_command(c), "-y", str(out)]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.create_task(proc.stderr.read())

    async def progress() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                on_progress(min(1.0, int(value) / 1e6 / max(c.duration, 0.001)))

    try:
        await asyncio.wait_for(progress(), timeout=timeout)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise TransientError("the render timed out", code="RENDER_TIMEOUT") from None
    err = (await errors).decode(errors="replace")
    if code != 0:
        raise PermanentError(
            f"ffmpeg failed to render ({code}): {err[-800:]}",
            code="RENDER_FAILED",
            details={"returncode": code},
        )
