"""Word-level timing of a narration: the script's own words, timed by the voice itself.

faster-whisper transcribes the narration with word timestamps; the recognised words are then
matched to the script's words (difflib, on normalised spellings), line by line inside the line's
known interval (the narration knows when each line is spoken). A script word the model missed
or misheard gets a time between its matched neighbours, in proportion to its length. Without a
speech model the words of each line are spread over the line by length ("proportional").

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
from typing import Literal

from pydantic import BaseModel

from core.errors import OperationError
from skills.media.voice import LineTiming
from skills.settings.media import MediaSettings

log = logging.getLogger("chimera.skills.media.align")

Timing = Literal["whisper", "proportional"]


class TimedWord(BaseModel):
    """A word of the script and when it is spoken."""

    text: str
    start: float
    end: float
    line: int


@dataclass(frozen=True)
class Heard:
    """A word as the speech model heard it."""

    start: float
    end: float
    norm: str


def normalise(word: str) -> str:
    """Lower case, accents and punctuation removed: what two spellings must share to match."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return re.sub(r"[\W_]+", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


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
        matcher = difflib.SequenceMatcher(
            a=[normalise(w) for w in words], b=[h.norm for h in inside], autojunk=False
        )
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                h = inside[block.b + k]
                times[block.a + k] = (h.start, h.end)
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


def heard_words(path: Path, cfg: MediaSettings, language: str | None = "en") -> list[Heard]:
    """Every word faster-whisper hears in `path`, with its timing (blocking)."""
    from skills.media.transcribe import _decode, load_model

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
    return found


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
