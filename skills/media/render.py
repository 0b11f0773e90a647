"""`skill_generate_video`: a short a creator would post, rendered with one ffmpeg graph.

The stages, each reported as progress (`SkillContext.report`):

1. narration — Piper neural TTS by default (espeak-ng without a neural voice; an
   OpenAI-compatible endpoint when configured, falling back to the local voice), paced to the
   target duration (`skills.media.voice`);
2. transcription — the narration aligned word by word with faster-whisper, so captions follow
   the voice (`skills.media.align`);
3. footage — one visual per sentence, chosen by its keywords from the library, Pexels,
   Pixabay, the trend's reference clip or thumbnail, with every asset's rights recorded
   (`skills.media.footage`);
4. sound — narration over ducked music, mastered to -14 LUFS / -1 dBTP (`skills.media.sound`);
5. render — visuals cut to the spoken sentences with crossfades, karaoke (or sentence) captions
   inside the safe area, the title; H.264 High + AAC in one ffmpeg run (`skills.media.compose`).

Sizes: vertical 1080x1920 by default, 16:9 (1920x1080) or 1:1 (1080x1080) on request;
`resolution_scale` shrinks them (tests, previews), rounded to even numbers as yuv420p requires.
The file is written to a temporary name in the target folder and renamed into place, so a
reader never sees half a video.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image
from pydantic import BaseModel, Field, field_validator, model_validator

from core.errors import ValidationError
from core.private import private_dir, private_file
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext, SkillPaths
from skills.files import held_directory, held_temporary, sweep_once
from skills.media import compose
from skills.media.align import TimedWord, Timing, align, proportional
from skills.media.captions import (
    CaptionStyle,
    CaptionTrack,
    karaoke_track,
    sentence_track,
    title_image,
)
from skills.media.common import LoopSemaphores, MediaInfo, media_path, probe, sha256_file
from skills.media.compose import CaptionInput, Composition, TitleInput
from skills.media.footage.models import Asset, AssetRights, Orientation, keywords
from skills.media.footage.select import Beat, Visual, choose_visuals, ledger, providers_for
from skills.media.sound import Loudness, master, measure, pick_music
from skills.media.voice import (
    LineTiming,
    Narration,
    NarrationRequest,
    VoiceInfo,
    engines_for,
    narrate,
)
from skills.settings.media import X264_PRESETS

ASPECTS: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "16:9": (1920, 1080),
    "1:1": (1080, 1080),
}
_SEMAPHORES = LoopSemaphores()
TAIL_S = 0.6  # music and picture after the last word


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
        default=None,
        max_length=4096,
        description="The trend's reference clip (under the media root): footage for the beats "
        "the providers have nothing for (all of them when there are no providers).",
    )
    background_color: str = Field(
        default="#101018",
        pattern=r"^#[0-9A-Fa-f]{6}$",
        description="First colour of the generated gradient when no footage is found.",
    )
    narration_audio: str | None = Field(
        default=None, max_length=4096, description="An audio file under the media root."
    )
    narrate: bool = Field(
        default=False, description="Speak the script (Piper; espeak-ng without a neural voice)."
    )
    tts_engine: Literal["auto", "piper", "espeak", "openai"] | None = Field(
        default=None, description="Overrides CHIMERA_TTS_ENGINE."
    )
    voice: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_+\-]{1,40}$", description="espeak-ng voice name."
    )
    target_duration_s: float | None = Field(
        default=None, gt=0, le=600, description="Narration paced to this length (within 10 %)."
    )
    language: str | None = Field(default="en", pattern=r"^[a-z]{2,3}$")
    caption_style: CaptionStyle | None = Field(
        default=None, description="karaoke (default on 9:16) or sentence."
    )
    keywords: list[str] = Field(
        default_factory=list, max_length=20, description="The topic's words (trend tags)."
    )
    thumbnail_url: str | None = Field(
        default=None, max_length=4096, description="The trend's thumbnail: a still to animate."
    )
    footage: bool = Field(default=True, description="Look for footage (else gradients only).")
    music: bool = Field(default=True, description="Background music from CHIMERA_MUSIC_DIR.")
    captions: list[CaptionCue] | None = Field(default=None, max_length=2000)
    word_timings: list[TimedWord] | None = Field(
        default=None,
        max_length=20_000,
        description="When each word of the narration is spoken (skips the alignment): "
        "`line` is the index of the script line it belongs to.",
    )
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


class BoxModel(BaseModel):
    """A rectangle in frame pixels (where a caption or the title was drawn)."""

    x: int
    y: int
    w: int
    h: int


class GenerateVideoOutput(SkillOutput):
    """The rendered file and how it was made: voice, captions, cuts, rights, loudness."""

    path: str | None = None
    duration: float = 0.0
    width: int = 0
    height: int = 0
    resolution: str = ""
    size: int = 0
    sha256: str = ""
    has_audio: bool = False
    captions: int = Field(default=0, description="Caption states shown (images).")
    caption_style: CaptionStyle | None = None
    caption_timing: Timing | None = Field(
        default=None, description="whisper: aligned to the voice; proportional: by length."
    )
    caption_boxes: list[BoxModel] = Field(default_factory=list)
    voice: VoiceInfo | None = None
    visuals: int = Field(default=0, description="Beats, each with its own visual.")
    cuts: int = Field(default=0, description="Changes of footage between beats.")
    assets: list[AssetRights] = Field(
        default_factory=list, description="The rights ledger: every asset used, with licence."
    )
    music: str | None = None
    loudness: Loudness | None = None
    footage_notes: list[str] = Field(default_factory=list)


# --- Planning -------------------------------------------------------------------------------------
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


# --- Beats ----------------------------------------------------------------------------------------
def line_timings(lines: list[str], duration: float) -> list[LineTiming]:
    """Lines spread over `duration` (when no narration says when they are spoken)."""
    return [
        LineTiming(index=i, text=cue.text, start=cue.start, end=cue.end)
        for i, cue in enumerate(plan_captions(lines, duration))
    ]


def timings_of(words: list[TimedWord], lines: list[str]) -> list[LineTiming] | None:
    """Line timings from given word timings (None when a line has no word)."""
    found: list[LineTiming] = []
    for i, text in enumerate(lines):
        mine = [w for w in words if w.line == i]
        if not mine:
            return None
        found.append(LineTiming(index=i, text=text, start=mine[0].start, end=mine[-1].end))
    return found


def sentence_beats(words: list[TimedWord], lines: list[LineTiming], duration: float) -> list[Beat]:
    """One beat per sentence (lines split at sentence ends), contiguous over [0, duration]."""
    spans: list[tuple[str, float]] = []
    for line in lines:
        mine = [w for w in words if w.line == line.index]
        if not mine:
            spans.append((line.text, line.start))
            continue
        current: list[TimedWord] = []
        for word in mine:
            current.append(word)
            if word.text.endswith((".", "!", "?")) and len(current) >= 3:
                spans.append((" ".join(w.text for w in current), current[0].start))
                current = []
        if current:
            if len(current) < 3 and spans and spans[-1][1] >= line.start:
                text, start = spans.pop()
                spans.append((f"{text} {' '.join(w.text for w in current)}", start))
            else:
                spans.append((" ".join(w.text for w in current), current[0].start))
    beats: list[Beat] = []
    for i, (text, start) in enumerate(spans):
        begin = 0.0 if i == 0 else min(start, duration)
        end = spans[i + 1][1] if i + 1 < len(spans) else duration
        if end - begin >= 0.4:
            beats.append(Beat(text, begin, min(end, duration)))
        elif beats:
            beats[-1] = Beat(f"{beats[-1].text} {text}", beats[-1].start, min(end, duration))
    if not beats:
        beats.append(Beat(" ".join(line.text for line in lines), 0.0, duration))
    return [
        Beat(b.text, b.start, beats[i + 1].start if i + 1 < len(beats) else duration)
        for i, b in enumerate(beats)
    ]


# --- The skill ------------------------------------------------------------------------------------
def _target(paths: SkillPaths, name: str | None) -> Path:
    folder = private_dir(paths.media_dir / "renders")
    sweep_once(folder)  # what a killed render left there
    stem = re.sub(r"\.mp4$", "", name or f"video-{uuid.uuid4().hex[:12]}")
    return folder / f"{stem}.mp4"


def _orientation(aspect: str) -> Orientation:
    if aspect == "9:16":
        return "portrait"
    return "landscape" if aspect == "16:9" else "square"


def _save_png(image: Image.Image, path: Path) -> Path:
    image.save(path, format="PNG", compress_level=1)
    return path


@dataclass(frozen=True)
class DrawTexts:
    """What the captions and title are drawn from."""

    style: CaptionStyle
    words: list[TimedWord]
    cues: list[tuple[str, float, float]]
    title: str | None
    title_until: float
    width: int
    height: int
    duration: float
    font: str | None
    folder: Path


def _draw_texts(job: DrawTexts) -> tuple[CaptionTrack, CaptionInput, TitleInput | None]:
    """The caption track and title, drawn and written as PNGs (blocking)."""
    w, h, d = job.width, job.height, job.duration
    if job.style == "karaoke":
        track = karaoke_track(job.words, w, h, d, job.font)
    else:
        track = sentence_track(job.cues, w, h, d, job.font)
    captions = CaptionInput(write_caption_track(track, job.folder), track.band)
    title = None
    made = title_image(job.title, w, h, job.font) if job.title else None
    if made is not None:
        title = TitleInput(_save_png(made[0], job.folder / "title.png"), made[1], job.title_until)
    return track, captions, title


def write_caption_track(track: CaptionTrack, folder: Path) -> Path:
    """PNGs of the caption states and the ffmpeg concat list that lays them end to end."""
    blank = _save_png(Image.new("RGBA", (track.band.w, track.band.h)), folder / "cap-blank.png")
    entries: list[str] = []
    last: Path = blank
    for i, frame in enumerate(track.frames):
        png = blank if frame.image is None else _save_png(frame.image, folder / f"cap-{i:05d}.png")
        entries.append(f"file '{png}'\nduration {frame.end - frame.start:.4f}")
        last = png
    entries.append(f"file '{last}'")  # the concat demuxer needs the last file twice
    concat = folder / "captions.txt"
    concat.write_text("ffconcat version 1.0\n" + "\n".join(entries) + "\n")
    return concat


async def _probe(path: Path, what: str) -> MediaInfo:
    """`probe`, with an unreadable file as a ValidationError naming `what` it was."""
    try:
        return await asyncio.to_thread(probe, path)
    except Exception as exc:
        raise ValidationError(f"cannot read {what}: {exc}", code="UNREADABLE_MEDIA") from exc


async def _clip_durations(visuals: list[Visual]) -> dict[Path, float]:
    found: dict[Path, float] = {}
    for visual in visuals:
        path = visual.asset.path
        if visual.asset.kind == "video" and path is not None and path not in found:
            info = await _probe(path, f"footage {path.name}")
            if not info.has_video:
                raise ValidationError(f"{path.name} has no video", code="NO_VIDEO")
            found[path] = info.duration
    return found


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


GRADIENTS = (
    ((27, 42, 73), (232, 54, 92)),
    ((15, 52, 67), (52, 232, 158)),
    ((65, 41, 90), (247, 151, 30)),
    ((43, 88, 118), (78, 67, 118)),
    ((255, 126, 95), (254, 180, 123)),
)


def gradient_png(path: Path, index: int, first: tuple[int, int, int] | None = None) -> Path:
    """A diagonal two-colour gradient with soft light spots (a still for beats with nothing)."""
    import numpy as np

    top, bottom = GRADIENTS[index % len(GRADIENTS)]
    if first is not None and index == 0:
        top = first
    h, w = 480, 270
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.clip((y / h) * 0.8 + (x / w) * 0.2, 0, 1)[..., None]
    rgb = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    for cx, cy, r in ((0.25, 0.3, 0.35), (0.8, 0.75, 0.3)):
        d = np.hypot(x / w - cx, (y / h - cy) * h / w) / r
        rgb += (np.clip(1 - d, 0, 1) ** 2 * 40)[..., None]
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path)
    return path


def _cuts(visuals: list[Visual]) -> int:
    return sum(1 for a, b in itertools.pairwise(visuals) if a.asset.key != b.asset.key)


async def _narration(
    data: GenerateVideoInput,
    ctx: SkillContext,
    lines: list[str],
    work: Path,
) -> tuple[Path | None, float | None, list[LineTiming] | None, VoiceInfo | None, Narration | None]:
    cfg = ctx.settings.media
    if data.narration_audio:
        path = media_path(ctx.paths, data.narration_audio)
        info = await _probe(path, "narration audio")
        if not info.has_audio:
            raise ValidationError("the narration file has no audio", code="NO_AUDIO")
        return path, info.duration, None, None, None
    if not data.narrate:
        return None, None, None, None, None
    if not lines:
        raise ValidationError("narration asked but the script has no lines", code="EMPTY_SCRIPT")
    ctx.report("narration", 0.0, "speaking the script")
    engines = engines_for(cfg, ctx.http, NarrationRequest(engine=data.tts_engine, voice=data.voice))
    target = data.target_duration_s - TAIL_S if data.target_duration_s else None
    spoken = await narrate(lines, work / "narration.wav", engines, target)
    ctx.report("narration", 1.0, f"{spoken.voice.engine}: {spoken.duration:.1f} s")
    return spoken.path, spoken.duration, spoken.lines, spoken.voice, spoken


@skill("skill_generate_video")
async def generate_video(data: GenerateVideoInput, ctx: SkillContext) -> GenerateVideoOutput:
    """Render a short video (vertical 1080x1920 by default) from a script.

    Neural narration paced to the target, word-timed karaoke (or sentence) captions in the
    safe area, one visual per sentence from the footage providers with crossfades, ducked
    music, mastered loudness; H.264 High + AAC. Returns the file, its duration, size and
    sha256, the voice used, the cuts, the rights of every asset and the measured loudness.
    """
    cfg = ctx.settings.media
    width, height = frame_size(data.aspect, data.resolution_scale)
    fps = data.fps or cfg.render_fps
    lines = data.script.lines()
    if not lines and not data.captions and not data.script.title:
        raise ValidationError(
            "nothing to show: the script and captions are empty", code="EMPTY_SCRIPT"
        )
    background = media_path(ctx.paths, data.background_video) if data.background_video else None
    target = _target(ctx.paths, data.output_name)
    # Scratch files and the video being written are held by this process while it works
    # (skills.files): what a killed render leaves is swept at the next start.
    with held_directory(target) as work:
        narration, spoken, timings, voice, said = await _narration(data, ctx, lines, work)
        if data.duration_s:
            duration = data.duration_s
        elif spoken is not None:
            duration = spoken + (TAIL_S if voice is not None else 0.0)
        elif data.captions:
            duration = max(c.end for c in data.captions)
        elif data.target_duration_s:
            duration = data.target_duration_s
        else:
            duration = sum(spoken_seconds(line, cfg.tts_words_per_minute) for line in lines) or 3.0
        if duration > cfg.render_max_duration_s:
            raise ValidationError(
                f"video would be {duration:.0f} s, the limit is {cfg.render_max_duration_s:.0f} s",
                code="DURATION_TOO_LONG",
            )
        if background is not None:
            await _clip_durations([Visual(Asset(kind="video", path=background, rights=_REF), 0, 1)])
        if timings is None and data.word_timings:
            timings = timings_of(data.word_timings, lines)
        if timings is None:
            timings = line_timings(lines, spoken or duration)

        # Word timing: the narration itself, heard by faster-whisper.
        timing: Timing = "proportional"
        words: list[TimedWord] = []
        if data.word_timings is not None and not data.captions:
            words, timing = list(data.word_timings), "given"
        elif (
            said is not None and not data.captions and said.timed_lines >= set(range(len(timings)))
        ):
            words, timing = said.words, "engine"  # the TTS engine's own word timing
        elif narration is not None and not data.captions and lines:
            ctx.report("transcription", 0.0, "aligning captions with the voice")
            rest = [t for t in timings if said is None or t.index not in said.timed_lines]
            heard, timing = await align(narration, rest, cfg, data.language)
            words = sorted([*(said.words if said else []), *heard], key=lambda w: w.start)
            ctx.report("transcription", 1.0, timing)
        elif lines:
            words = proportional(timings)

        style: CaptionStyle = (
            data.caption_style
            or (cfg.caption_style if cfg.caption_style != "auto" else None)
            or ("karaoke" if data.aspect == "9:16" else "sentence")
        )
        font = str(cfg.caption_font_path or cfg.render_font_path or "") or None
        if data.captions:
            cues = [(c.text, c.start, c.end) for c in data.captions]
        else:
            cues = [(t.text, t.start, t.end) for t in timings]
        first_end = timings[0].end if timings else 3.0
        # Text layout and PNG encoding are CPU work: off the event loop (Kafka heartbeats).
        track, captions, title = await asyncio.to_thread(
            _draw_texts,
            DrawTexts(
                style="karaoke"
                if style == "karaoke" and words and not data.captions
                else "sentence",
                words=words,
                cues=cues,
                title=data.script.title,
                title_until=min(duration, max(2.5, first_end)),
                width=width,
                height=height,
                duration=duration,
                font=font,
                folder=work,
            ),
        )
        boxes = track.boxes() + ([title.box] if title is not None else [])

        # Footage: one visual per sentence.
        beats = sentence_beats(words, timings, duration) if lines else [Beat("", 0, duration)]
        notes: list[str] = []
        topic = keywords(" ".join([*(data.keywords or []), data.script.title or ""]), 6)
        visuals = await choose_visuals(
            beats,
            ctx,
            providers=providers_for(ctx.settings) if data.footage else [],
            topic_keywords=topic,
            orientation=_orientation(data.aspect),
            cache=ctx.paths.media_dir / "footage",
            reference=background,
            thumbnail_url=data.thumbnail_url if data.footage else None,
            notes=notes,
        )
        if background is not None and all(v.asset.kind == "generated" for v in visuals):
            # An explicit background with nothing else to show: it fills every beat.
            ref = Asset(
                kind="video",
                path=background,
                rights=_REF.model_copy(update={"id": background.name}),
            )
            visuals = [Visual(ref, v.start, v.end, v.start) for v in visuals]
        base = _rgb(data.background_color)
        for n, visual in enumerate(visuals):
            if visual.asset.kind == "generated" and visual.asset.path is None:
                png = await asyncio.to_thread(gradient_png, work / f"gradient-{n}.png", n, base)
                visual.asset = visual.asset.model_copy(update={"path": png})
        durations = await _clip_durations(visuals)

        # Sound: narration over ducked music, mastered.
        music = pick_music(cfg.music_dir, target.stem) if data.music else None
        ctx.report("render", 0.0, "mastering the sound")
        audio = await master(
            narration,
            music,
            duration,
            work / "master.wav",
            lufs=cfg.loudness_lufs,
            true_peak=cfg.true_peak_db,
            music_gain_db=cfg.music_gain_db,
        )

        composition = Composition(
            width=width,
            height=height,
            fps=fps,
            duration=duration,
            visuals=visuals,
            clip_durations=durations,
            captions=captions,
            title=title,
            audio=audio,
            preset=data.preset or cfg.render_preset,
            crf=cfg.render_crf,
            threads=data.threads or cfg.render_threads,
            target=target,
        )
        with held_temporary(target, ".mp4") as tmp:
            async with _SEMAPHORES.get(cfg.render_concurrency):
                await compose.run(
                    composition,
                    tmp,
                    lambda f: ctx.report("render", f, f"{f * duration:.1f}/{duration:.1f} s"),
                )
            os.replace(tmp, target)
    private_file(target)  # owner-only, whatever the umask (`core.private`)
    info = await asyncio.to_thread(probe, target)
    loudness = await measure(target) if info.has_audio and narration is not None else None
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
        captions=len([f for f in track.frames if f.image is not None]),
        caption_style=track.style,
        caption_timing=timing,
        caption_boxes=[BoxModel(x=b.x, y=b.y, w=b.w, h=b.h) for b in boxes],
        voice=voice,
        cuts=_cuts(visuals),
        visuals=len(visuals),
        assets=ledger(visuals),
        music=music.name if music is not None else None,
        loudness=loudness,
        footage_notes=notes,
    )


_REF = AssetRights(provider="reference", id="background")
