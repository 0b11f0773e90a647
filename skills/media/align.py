"""Word-level timing of a narration: the script's own words, timed by the voice itself.

faster-whisper transcribes the narration with word timestamps; the recognised words are then
matched to the script's words, line by line inside the line's known interval (the narration
knows when each line is spoken): an alignment (dynamic programming) that pairs similar
spellings (numbers spelt out, "harbor" ~ "harbour"). Whisper's word times run end to end, the
silence between words given to one of them, so each boundary is then moved onto the voice
itself: a start onto the first voiced 10 ms frame, an end back onto the last one. A script word
the model missed or misheard gets a time between its matched neighbours, in proportion to its
length. Without a speech model the words of each line are spread over the line by length
("proportional").

The captions show the script's spelling, never the model's ("80" for "eighties").
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.errors import OperationError
from skills.media.voice import LineTiming, TimedWord
from skills.settings.media import MediaSettings

log = logging.getLogger("chimera.skills.media.align")

Timing = Literal["engine", "whisper", "proportional", "given"]


@dataclass(frozen=True)
class Heard:
    """A word as the speech model heard it."""

    start: float
    end: float
    norm: str


_UNITS = (  # noqa: SIM905
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905


def _spell(number: int) -> str:
    if number < 20:
        return _UNITS[number]
    if number < 100:
        return _TENS[number // 10] + (_UNITS[number % 10] if number % 10 else "")
    return str(number)


def normalise(word: str) -> str:
    """Lower case, accents and punctuation removed, small numbers spelt out: what two spellings
    must share to match."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    plain = re.sub(r"[\W_]+", "", "".join(c for c in decomposed if not unicodedata.combining(c)))
    return _spell(int(plain)) if plain.isdigit() and len(plain) <= 2 else plain


def similarity(a: str, b: str) -> float:
    """How alike two normalised spellings are (0..1)."""
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


def pair(script: list[str], heard: list[str], floor: float = 0.6) -> list[tuple[int, int]]:
    """(script index, heard index) pairs of the best monotonic alignment of similar words."""
    n, m = len(script), len(heard)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            sim = similarity(script[i], heard[j])
            take = best[i + 1][j + 1] + sim if sim >= floor else -1.0
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        sim = similarity(script[i], heard[j])
        if sim >= floor and best[i][j] == best[i + 1][j + 1] + sim:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _spread(words: list[str], start: float, end: float) -> list[tuple[float, float]]:
    weights = [max(1, len(w)) for w in words]
    total = sum(weights) or 1
    out: list[tuple[float, float]] = []
    cursor = start
    for weight in weights:
        step = (end - start) * weight / total
        out.append((cursor, cursor + step))
        cursor += step
    return out


def align_line(words: list[str], line: LineTiming, heard: list[Heard]) -> list[TimedWord]:
    """Time the words of one line by the heard words inside it, interpolating the rest."""
    inside = [h for h in heard if line.start - 0.15 <= (h.start + h.end) / 2 <= line.end + 0.15]
    times: list[tuple[float, float] | None] = [None] * len(words)
    if inside:
        for i, j in pair([normalise(w) for w in words], [h.norm for h in inside]):
            times[i] = (inside[j].start, inside[j].end)
    # Fill the gaps between known times (or the line's bounds) by length.
    i = 0
    while i < len(words):
        if times[i] is not None:
            i += 1
            continue
        j = i
        while j < len(words) and times[j] is None:
            j += 1
        before = times[i - 1] if i > 0 else None
        left = before[1] if before is not None else line.start
        after = times[j] if j < len(words) else None
        right = after[0] if after is not None else line.end
        for k, spread in enumerate(_spread(words[i:j], left, max(left, right))):
            times[i + k] = spread
        i = j
    out: list[TimedWord] = []
    floor = line.start
    for word, known in zip(words, times, strict=True):
        span = known or (line.start, line.end)
        start = max(floor, min(span[0], line.end))
        end = max(start, min(span[1], line.end))
        out.append(TimedWord(text=word, start=round(start, 3), end=round(end, 3), line=line.index))
        floor = start
    return out


def proportional(lines: list[LineTiming]) -> list[TimedWord]:
    """Each line's words spread over the line by their length."""
    out: list[TimedWord] = []
    for line in lines:
        words = line.text.split()
        for word, (start, end) in zip(words, _spread(words, line.start, line.end), strict=True):
            out.append(TimedWord(text=word, start=start, end=end, line=line.index))
    return out


FRAME_S = 0.01


def voiced_frames(audio: Any, rate: int) -> Any:
    """Which 10 ms frames of `audio` hold voice (RMS above a fraction of the loud frames')."""
    import numpy as np

    hop = int(rate * FRAME_S)
    usable = audio[: audio.size // hop * hop].reshape(-1, hop)
    rms = np.sqrt((usable.astype(np.float64) ** 2).mean(axis=1))
    if rms.size == 0:
        return rms > 0
    return rms > max(1e-4, float(np.percentile(rms, 95)) * 0.06)


def snap(heard: list[Heard], voiced: Any, reach: float = 0.3) -> list[Heard]:
    """Word starts moved forward onto the voice, ends back onto it (within `reach`)."""
    import numpy as np

    frames = int(reach / FRAME_S)
    out: list[Heard] = []
    for h in heard:
        a, b = int(h.start / FRAME_S), int(h.end / FRAME_S)
        start, end = h.start, h.end
        ahead = np.flatnonzero(voiced[a : min(b, a + frames)])
        if ahead.size:
            start = (a + int(ahead[0])) * FRAME_S
        back = np.flatnonzero(voiced[max(a, b - frames) : b])
        if back.size:
            end = (max(a, b - frames) + int(back[-1]) + 1) * FRAME_S
        out.append(Heard(start, max(start, end), h.norm))
    return out


def heard_words(path: Path, cfg: MediaSettings, language: str | None = "en") -> list[Heard]:
    """Every word faster-whisper hears in `path`, its timing snapped to the voice (blocking)."""
    from skills.media.transcribe import SAMPLE_RATE, _decode, load_model

    model, _, _, _ = load_model(cfg)
    audio = _decode(path)
    segments, _ = model.transcribe(
        audio,
        language=language,
        beam_size=1,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    found: list[Heard] = []
    for seg in segments:
        for w in seg.words or []:
            norm = normalise(w.word)
            if norm:
                found.append(Heard(float(w.start), float(w.end), norm))
    return snap(found, voiced_frames(audio, SAMPLE_RATE))


async def align(
    path: Path, lines: list[LineTiming], cfg: MediaSettings, language: str | None = "en"
) -> tuple[list[TimedWord], Timing]:
    """The words of `lines`, timed by the narration in `path`."""
    try:
        heard = await asyncio.to_thread(heard_words, path, cfg, language)
    except OperationError as exc:
        log.warning("no word timing from a speech model (%s): spreading words by length", exc)
        return proportional(lines), "proportional"
    out: list[TimedWord] = []
    for line in lines:
        out.extend(align_line(line.text.split(), line, heard))
    return out, "whisper"
