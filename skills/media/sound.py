"""The soundtrack: narration over ducked background music, mastered for the platforms.

* Music comes from a folder (`CHIMERA_MUSIC_DIR`, none by default); one track is picked per
  video (stably, by a seed), looped to the video's length, faded in and out.
* Ducking: ffmpeg's `sidechaincompress`, keyed by the narration, pulls the music down while the
  voice speaks and lets it back up in the pauses.
* Mastering: two-pass `loudnorm` (EBU R128): the first pass measures, the second applies a
  linear gain to the target integrated loudness (-14 LUFS) with the true peak held under the
  ceiling (-1 dBTP; the master aims 0.5 dB lower so AAC encoding does not push it over).
  When loudnorm cannot stay linear (peaks too high for the gain) its dynamic mode can land a
  little off; the master is then measured and corrected by a plain gain into a peak limiter
  1 dB under the ceiling.
* `measure` reads the integrated loudness, loudness range and true peak of any file with the
  `ebur128` filter (what the quality gate uses on the finished video).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from pathlib import Path

from pydantic import BaseModel

from core.errors import PermanentError, TransientError

MUSIC_SUFFIXES = {".mp3", ".wav", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac"}
MASTER_RATE = 48_000


class Loudness(BaseModel):
    """EBU R128 measurements of a file."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra_lu: float = 0.0


def ffmpeg_exe() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise PermanentError("ffmpeg is not installed", code="FFMPEG_UNAVAILABLE")
    return exe


async def run_ffmpeg(
    args: list[str],
    timeout: float = 600,  # noqa: ASYNC109
) -> tuple[bytes, str]:
    """Run ffmpeg with `args`; (stdout, stderr). A failure is a PermanentError with its tail."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise TransientError("ffmpeg timed out", code="FFMPEG_TIMEOUT") from None
    text = err.decode(errors="replace")
    if proc.returncode != 0:
        raise PermanentError(
            f"ffmpeg failed ({proc.returncode}): {text[-600:]}",
            code="FFMPEG_FAILED",
            details={"returncode": proc.returncode},
        )
    return out, text


def pick_music(folder: Path | None, seed: str) -> Path | None:
    """A track of `folder` chosen by `seed` (the same seed, the same track), or None."""
    if folder is None or not folder.expanduser().is_dir():
        return None
    tracks = sorted(
        p
        for p in folder.expanduser().rglob("*")
        if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES and not p.name.startswith(".")
    )
    if not tracks:
        return None
    index = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(tracks)
    return tracks[index]


_EBU = re.compile(
    r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf)\s*LUFS.*?"
    r"Loudness range:\s*LRA:\s*(-?[\d.]+)\s*LU.*?"
    r"True peak:\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS",
    re.S,
)


def _number(text: str) -> float:
    return float("-inf") if text == "-inf" else float(text)


def parse_ebur128(stderr: str) -> Loudness:
    """The summary the `ebur128` filter (with `peak=true`) logs at the end of a run."""
    found = _EBU.search(stderr[stderr.rfind("Summary:") :])
    if found is None:
        raise PermanentError("no loudness summary from ebur128", code="LOUDNESS_UNMEASURED")
    return Loudness(
        integrated_lufs=_number(found.group(1)),
        lra_lu=_number(found.group(2)),
        true_peak_dbtp=_number(found.group(3)),
    )


async def measure(path: Path) -> Loudness:
    """Integrated loudness, loudness range and true peak of `path` (ffmpeg `ebur128`)."""
    _, err = await run_ffmpeg(
        ["-i", str(path), "-vn", "-af", "ebur128=peak=true", "-f", "null", "-"]
    )
    return parse_ebur128(err)


def _mix_graph(has_music: bool, duration: float, music_gain_db: float) -> str:
    voice = (
        f"[0:a]aresample={MASTER_RATE},aformat=channel_layouts=stereo,apad=whole_dur={duration:.3f}"
    )
    if not has_music:
        return f"{voice},atrim=0:{duration:.3f}[mix]"
    fade_out = max(0.0, duration - 1.5)
    return (
        f"{voice},asplit=2[voice][key];"
        f"[1:a]aresample={MASTER_RATE},aformat=channel_layouts=stereo,"
        f"atrim=0:{duration:.3f},volume={music_gain_db}dB,"
        f"afade=t=in:d=1.0,afade=t=out:st={fade_out:.3f}:d=1.5[bed];"
        "[bed][key]sidechaincompress=threshold=0.02:ratio=8:attack=15:release=350:makeup=1[ducked];"
        "[voice][ducked]amix=inputs=2:duration=first:normalize=0,"
        f"atrim=0:{duration:.3f}[mix]"
    )


#: The AAC encoder (160 kb/s) raises inter-sample peaks: a master 0.5 dB under the target came
#: out of the encoder at -0.8 dBTP in a demo run, over the -1 dBTP the quality gate checks. The
#: master keeps this much below the target, and its limiter works 4x oversampled (on true
#: peaks, not samples), so the encoded file still meets it.
ENCODER_HEADROOM_DB = 1.0
#: At most this many gain-and-limit passes to reach the loudness target (see `master`).
LIMITER_PASSES = 3


async def master(
    narration: Path | None,
    music: Path | None,
    duration: float,
    out: Path,
    *,
    lufs: float,
    true_peak: float,
    music_gain_db: float = -16,
) -> Path:
    """Mix narration (or silence) with ducked music and master it to `lufs` / `true_peak`.

    Writes a 48 kHz stereo WAV to `out`. Silence stays silence (nothing to normalise)."""
    inputs: list[str] = []
    if narration is not None:
        inputs += ["-i", str(narration)]
    else:
        inputs += ["-f", "lavfi", "-t", f"{duration:.3f}", "-i", "anullsrc=r=48000:cl=stereo"]
    if music is not None:
        inputs += ["-stream_loop", "-1", "-i", str(music)]
    mix = _mix_graph(music is not None, duration, music_gain_db)
    ceiling = true_peak - ENCODER_HEADROOM_DB
    _, err = await run_ffmpeg(
        [
            *inputs,
            "-filter_complex",
            f"{mix};[mix]loudnorm=I={lufs}:TP={ceiling}:LRA=11:print_format=json[out]",
            "-map",
            "[out]",
            "-f",
            "null",
            "-",
        ]
    )
    stats = json.loads(err[err.rfind("{") : err.rfind("}") + 1])
    if stats.get("input_i") in ("-inf", None) or float(stats["input_i"]) < -70:
        norm = "anull"  # silence: nothing to measure or normalise
    else:
        norm = (
            f"loudnorm=I={lufs}:TP={ceiling}:LRA=11:linear=true"
            f":measured_I={stats['input_i']}:measured_TP={stats['input_tp']}"
            f":measured_LRA={stats['input_lra']}:measured_thresh={stats['input_thresh']}"
            f":offset={stats['target_offset']}"
        )
    first = out.with_name(f".{out.stem}.pass2.wav") if norm != "anull" else out
    await run_ffmpeg(
        [
            *inputs,
            "-filter_complex",
            f"{mix};[mix]{norm},aresample={MASTER_RATE},aformat=channel_layouts=stereo[out]",
            "-map",
            "[out]",
            "-c:a",
            "pcm_s16le",
            "-y",
            str(first),
        ]
    )
    if first == out:
        return out
    try:
        got = await measure(first)
        gain = lufs - got.integrated_lufs
        if abs(gain) <= 0.2 and got.true_peak_dbtp <= ceiling:
            first.replace(out)
            return out
        limit = 10 ** (ceiling / 20)
        # The limiter takes loudness with the peaks it cuts: measure and raise the gain again
        # (a few passes over the audio alone) until the result is within 0.3 LU of the target.
        for _ in range(LIMITER_PASSES):
            await run_ffmpeg(
                [
                    "-i",
                    str(first),
                    "-af",
                    f"volume={gain:.2f}dB,aresample={4 * MASTER_RATE},"
                    f"alimiter=limit={limit:.4f}:attack=1:release=60:level=false,"
                    f"aresample={MASTER_RATE}",
                    "-c:a",
                    "pcm_s16le",
                    "-y",
                    str(out),
                ]
            )
            miss = lufs - (await measure(out)).integrated_lufs
            if abs(miss) <= 0.3:
                break
            gain += miss
    finally:
        first.unlink(missing_ok=True)
    return out
