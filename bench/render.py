"""Render benchmark: `skill_generate_video` against one hand-written ffmpeg command.

    python -m bench.render [--seconds 60] [--runs 3] [--scale 1.0] [--preset veryfast]

Both render the same thing from the same inputs, made once before timing: the same script
narrated by the same Piper voice (a WAV) with its word timings, the same clips (a generated
library, one per sentence), the same music bed, 1080x1920 at 30 fps, the same x264 preset and
CRF, karaoke captions and the title as overlays, the narration over sidechain-ducked music,
loudness-normalised, AAC.

* Chimera: the skill, in this process (caption images, footage choice, two-pass mastering,
  the ffmpeg composition, the final probe, loudness measurement and sha256 included).
* Baseline: one ffmpeg command line, written by hand, doing the equivalent work: the same
  clips cut and crossfaded, the same caption PNGs overlaid from a concat list (rendered for
  it before timing: a hand-written command has no text layout of its own to match karaoke),
  one-pass loudnorm.

Runs alternate (skill, ffmpeg, skill, ...); medians. Peak memory is sampled from /proc every
50 ms while each side runs: this process's resident set plus its child processes' (ffmpeg)
peaks, the largest such sum per side (the kernel's rusage of children is useless here: a
forked child starts out counting the parent's pages). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import emit, machine, median
from skills.base import invoke
from skills.context import SkillContext, SkillPaths
from skills.media.align import align
from skills.media.captions import karaoke_track, title_image
from skills.media.compose import FADE_S
from skills.media.render import (
    GenerateVideoInput,
    ScriptLines,
    frame_size,
    generate_video,
    sentence_beats,
    write_caption_track,
)
from skills.media.voice import local_engine, narrate
from skills.settings import SkillSettings
from skills.settings.media import MediaSettings

SENTENCES = [
    "Synthwave covers of holiday songs are suddenly everywhere.",
    "Musicians remake seasonal classics with eighties synthesizers and neon visuals.",
    "Short covers under a minute do best, and the comments love them.",
    "Some channels post one a day through December.",
    "The sound is warm, a little nostalgic, and easy to loop.",
    "Retro handheld consoles ride the same wave of nostalgia.",
    "Cheap emulation handhelds are trending as gift ideas.",
    "Unboxing and mod videos lead the way.",
    "Desk setups get cozier too, with warm light and plants.",
    "Follow for more trends in under a minute.",
]
THEMES = [
    ("neon-music", "testsrc2"),
    ("retro-gaming", "mandelbrot"),
    ("cozy-desk", "testsrc2"),
    ("winter-lights", "mandelbrot"),
    ("trend-growth", "testsrc2"),
]


class PeakMemory:
    """Samples this process's RSS plus its children's peak RSS (VmHWM) in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _field(pid: int | str, name: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        return found

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            total = self._field(me, "VmRSS")
            pending = self._children(me)
            while pending:
                child = pending.pop()
                total += self._field(child, "VmHWM")
                pending += self._children(child)
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return round(self.peak_kib / 1024, 1)


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, timeout=1800, stdout=subprocess.DEVNULL)


def make_inputs(folder: Path, seconds: float) -> dict[str, Any]:
    """The shared inputs: library clips, music, narration and word timings."""
    library, music = folder / "library", folder / "music"
    library.mkdir()
    music.mkdir()
    for name, source in THEMES:
        path = library / f"{name}.mp4"
        _run(
            [
                *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{source}=s=720x1280:r=30"),
                *("-t", "8", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
                str(path),
            ]
        )
        (library / f"{name}.mp4.json").write_text(
            json.dumps({"tags": name.split("-"), "licence": "CC0-1.0"})
        )
    _run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=220:d=30,volume=-6dB"),
            *("-c:a", "aac", str(music / "bed.m4a")),
        ]
    )
    # Enough sentences for the length at a natural pace (about 3.2 words a second).
    words_each = sum(len(x.split()) for x in SENTENCES) / len(SENTENCES)
    count = max(2, round(seconds * 3.2 / words_each))
    lines = [SENTENCES[i % len(SENTENCES)] for i in range(count)]
    spoken = asyncio.run(
        narrate(lines, folder / "voice.wav", [local_engine(MediaSettings())], seconds - 0.6)
    )
    words = list(spoken.words)
    rest = [t for t in spoken.lines if t.index not in spoken.timed_lines]
    if rest:  # lines Piper re-spells (numbers, ...): timed by Whisper, as the skill does
        heard, _ = asyncio.run(align(spoken.path, rest, MediaSettings()))
        words = sorted([*words, *heard], key=lambda w: w.start)
    return {
        "library": library,
        "music": music / "bed.m4a",
        "voice": spoken.path,
        "lines": lines,
        "line_timings": spoken.lines,
        "words": words,
        "duration": spoken.duration + 0.6,
    }


def baseline_command(
    inputs: dict[str, Any], folder: Path, size: tuple[int, int], preset: str, crf: int
) -> list[str]:
    """The hand-written ffmpeg command line (captions as prepared PNGs, like the skill)."""
    w, h = size
    duration: float = inputs["duration"]
    track = karaoke_track(inputs["words"], w, h, duration, None)
    concat = write_caption_track(track, folder)
    title = title_image("Synthwave holidays", w, h, None)
    assert title is not None
    title_png = folder / "title.png"
    title[0].save(title_png)
    beats = sentence_beats(inputs["words"], inputs["line_timings"], duration)
    clips = sorted(Path(inputs["library"]).glob("*.mp4"))
    cmd = ["ffmpeg", "-v", "error", "-y"]
    chains = []
    for i, beat in enumerate(beats):
        last = i + 1 == len(beats)
        length = beat.end - beat.start + (0 if last else FADE_S)
        cmd += ["-ss", "0", "-t", f"{length:.3f}", "-i", str(clips[i % len(clips)])]
        chains.append(
            f"[{i}:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},"
            f"fps=30,setsar=1,format=yuv420p[v{i}]"
        )
    out = "v0"
    for i in range(1, len(beats)):
        chains.append(
            f"[{out}][v{i}]xfade=transition=fade:duration={FADE_S}:offset={beats[i].start:.3f}"
            f"[x{i}]"
        )
        out = f"x{i}"
    n = len(beats)
    cmd += ["-f", "concat", "-safe", "0", "-i", str(concat)]
    cmd += ["-loop", "1", "-t", "3", "-i", str(title_png)]
    cmd += ["-i", str(inputs["voice"]), "-stream_loop", "-1", "-i", str(inputs["music"])]
    band = track.band
    chains.append(f"[{out}][{n}:v]overlay={band.x}:{band.y}:eof_action=pass[c]")
    chains.append(f"[c][{n + 1}:v]overlay={title[1].x}:{title[1].y}:eof_action=pass[vout]")
    chains.append(
        f"[{n + 2}:a]aformat=channel_layouts=stereo,apad,asplit[voice][key];"
        f"[{n + 3}:a]aformat=channel_layouts=stereo,volume=-16dB[bed];"
        "[bed][key]sidechaincompress=threshold=0.02:ratio=8:attack=15:release=350[duck];"
        "[voice][duck]amix=inputs=2:duration=first:normalize=0,"
        "loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000[aout]"
    )
    cmd += ["-filter_complex", ";".join(chains), "-map", "[vout]", "-map", "[aout]"]
    cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-profile:v", "high"]
    cmd += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k", "-t", f"{duration:.3f}"]
    cmd += ["-movflags", "+faststart", str(folder / "baseline.mp4")]
    return cmd


async def run_skill(
    inputs: dict[str, Any], media: Path, scale: float, preset: str, name: str
) -> float:
    cfg = MediaSettings(footage_library=inputs["library"], music_dir=Path(inputs["music"]).parent)
    async with httpx.AsyncClient() as http:
        ctx = SkillContext(
            http=http,
            paths=SkillPaths(state_dir=media / "state", media_dir=media),
            settings=SkillSettings(media=cfg),
        )
        data = GenerateVideoInput(
            script=ScriptLines(
                title="Synthwave holidays", hook=inputs["lines"][0], body=inputs["lines"][1:]
            ),
            narration_audio=str(inputs["voice"]),
            word_timings=inputs["words"],
            resolution_scale=scale,
            fps=30,
            preset=preset,
            output_name=name,
        )
        began = time.perf_counter()
        out = await invoke(generate_video, data, ctx)
        took = time.perf_counter() - began
    if not out.success:
        raise SystemExit(f"the skill failed: {out.error}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed")
    crf = MediaSettings().render_crf
    size = frame_size("9:16", args.scale)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        media = Path(tmp) / "media"
        (media / "in").mkdir(parents=True)
        inputs = make_inputs(media / "in", args.seconds)
        base_dir = Path(tmp) / "baseline"
        base_dir.mkdir()
        command = baseline_command(inputs, base_dir, size, args.preset, crf)
        skill_times, ffmpeg_times = [], []
        skill_peak, ffmpeg_peak = 0.0, 0.0
        for run in range(args.runs):
            with PeakMemory() as memory:
                skill_times.append(
                    asyncio.run(run_skill(inputs, media, args.scale, args.preset, f"bench-{run}"))
                )
            skill_peak = max(skill_peak, memory.mib)
            with PeakMemory() as memory:
                began = time.perf_counter()
                _run(command)
                ffmpeg_times.append(time.perf_counter() - began)
            ffmpeg_peak = max(ffmpeg_peak, memory.mib)
    skill_s, ffmpeg_s = median(skill_times), median(ffmpeg_times)
    emit(
        {
            "bench": "render",
            "video_seconds": round(inputs["duration"], 2),
            "resolution": f"{size[0]}x{size[1]}",
            "fps": 30,
            "preset": args.preset,
            "crf": crf,
            "runs": args.runs,
            "skill_s_median": round(skill_s, 2),
            "ffmpeg_s_median": round(ffmpeg_s, 2),
            "ratio": round(skill_s / ffmpeg_s, 3),
            "skill_runs_s": [round(t, 2) for t in skill_times],
            "ffmpeg_runs_s": [round(t, 2) for t in ffmpeg_times],
            "skill_peak_mib": skill_peak,
            "ffmpeg_peak_mib": ffmpeg_peak,
            "python_peak_rss_mib": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
