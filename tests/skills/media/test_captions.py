"""Captions: word timing against the voice (real Piper speech, the real tiny.en model), the
karaoke track, safe areas, text kept in frame, and font fallback checked on pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skills.media.align import Heard, TimedWord, align, align_line, normalise
from skills.media.captions import (
    Box,
    Fonts,
    caption_band,
    chunks,
    fit,
    karaoke_track,
    safe_area,
    sentence_track,
    title_image,
)
from skills.media.voice import SAMPLE_RATE, EspeakEngine, LineTiming, local_engine, narrate
from tests.skills.media.support import media_config

pytestmark = pytest.mark.slow  # real TTS and the real Whisper model

WORDS = "Seven. Bright. Orange. Kites. Drift. Slowly. Over. Quiet. Harbours."


def voiced_runs(path, min_gap: float = 0.08) -> list[tuple[float, float]]:
    """The stretches of `path` with voice, measured from the audio itself (10 ms RMS)."""
    from skills.media.voice import decode_to_mono

    audio = decode_to_mono(path)
    hop = SAMPLE_RATE // 100
    rms = np.sqrt((audio[: audio.size // hop * hop].reshape(-1, hop) ** 2).mean(axis=1))
    voiced = rms > rms.max() * 0.05
    runs: list[list[float]] = []
    for i, on in enumerate(voiced):
        t = i * 0.01
        if on and runs and t - runs[-1][1] <= min_gap:
            runs[-1][1] = t + 0.01
        elif on:
            runs.append([t, t + 0.01])
    return [(a, b) for a, b in runs if b - a >= 0.08]


async def test_a_words_caption_shows_while_it_is_spoken(tmp_path) -> None:
    """Words with pauses between them, so each word's time can be measured from the audio
    alone; the captions (the voice's own timing, and Whisper's) must follow it."""
    spoken = await narrate([WORDS], tmp_path / "voice.wav", [local_engine(media_config())])
    truth = voiced_runs(spoken.path)
    assert len(truth) == len(WORDS.split()), truth
    words = spoken.words  # Piper's own alignment: the default narration's caption timing
    assert spoken.timed_lines == {0} and [w.text for w in words] == WORDS.split()
    for word, (start, _) in zip(words, truth, strict=True):
        assert abs(word.start - start) <= 0.15, (word, start)
    # Each word is lit from within 150 ms of when it starts to be said until at most 150 ms
    # before it ends (it stays lit until the next word begins).
    track = karaoke_track(words, 270, 480, spoken.duration, None)
    for i, (start, end) in enumerate(truth):
        middle = (start + end) / 2
        [showing] = [f for f in track.frames if f.start <= middle < f.end]
        assert showing.word == i and showing.image is not None  # that word is lit
        assert abs(showing.start - start) <= 0.15
        assert showing.end >= end - 0.15


async def test_whisper_alignment_of_other_voices(tmp_path) -> None:
    """Engines without word timing (espeak-ng, the cloud) are aligned by the real tiny.en
    model. Its word times are coarser: most starts within 150 ms, none wildly off."""
    spoken = await narrate([WORDS], tmp_path / "voice.wav", [EspeakEngine("en", 150)])
    truth = voiced_runs(spoken.path)
    assert not spoken.timed_lines and len(truth) == len(WORDS.split()), truth
    heard, timing = await align(spoken.path, spoken.lines, media_config())
    assert timing == "whisper" and [w.text for w in heard] == WORDS.split()
    errors = [abs(w.start - start) for w, (start, _) in zip(heard, truth, strict=True)]
    assert sum(e <= 0.15 for e in errors) >= 0.7 * len(errors), errors
    assert max(errors) <= 0.8, errors


def test_unheard_words_are_interpolated_inside_their_line() -> None:
    line = LineTiming(index=0, text="alpha beta gamma delta", start=1.0, end=3.0)
    heard = [Heard(1.0, 1.4, "alpha"), Heard(2.5, 3.0, "delta")]  # beta, gamma missed
    words = align_line(line.text.split(), line, heard)
    assert (words[0].start, words[3].start) == (1.0, 2.5)
    assert 1.4 <= words[1].start < words[2].start < 2.5
    assert normalise("Déjà-vu!") == "dejavu"


def test_karaoke_groups_are_short_and_do_not_cross_lines() -> None:
    words = [
        TimedWord(text=t, start=i * 0.3, end=i * 0.3 + 0.25, line=i // 5)
        for i, t in enumerate(
            ["one", "two", "three", "four", "five.", "six", "seven", "eight", "nine", "ten"]
        )
    ]
    groups = chunks(words)
    assert all(len(g) <= 3 for g in groups)
    assert all(len({words[i].line for i in g}) == 1 for g in groups)


@pytest.mark.parametrize("size", [(1080, 1920), (270, 480)])
def test_captions_stay_in_the_safe_area(size: tuple[int, int]) -> None:
    width, height = size
    safe = safe_area(width, height)
    # Nothing under the bottom fifth (Shorts/TikTok/Reels UI) or the right-hand buttons.
    assert safe.bottom <= height * 0.8 and safe.right <= width * 0.86
    long = (
        "Supercalifragilisticexpialidocious-and-then-some " * 3 + "日本語のとても長いタイトルです"
    )
    words = [TimedWord(text=t, start=i, end=i + 0.9, line=0) for i, t in enumerate(long.split())]
    track = karaoke_track(words, width, height, len(words), None)
    assert track.boxes() and all(b.inside(safe) for b in track.boxes())
    lines = sentence_track([(long, 0.0, 2.0)], width, height, 2.0, None)
    assert all(b.inside(safe) for b in lines.boxes())
    made = title_image(long, width, height, None)
    assert made is not None and made[1].inside(safe)
    band = caption_band(width, height)
    assert band.inside(safe)


def test_text_shrinks_until_it_fits() -> None:
    layout = fit(["word"] * 60, 80, 300, 200, None)
    assert layout.height <= 200 and layout.width() <= 300 and layout.fonts.size < 80


def _ink(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"))[..., 3] > 0


def _glyph(fonts: Fonts, char: str) -> Image.Image:
    image = Image.new("RGBA", (fonts.size * 2, fonts.size * 2))
    fonts.draw(image, (2, 2), char, (255, 255, 255, 255), 0)
    return image


def test_cjk_and_emoji_render_as_glyphs_not_boxes() -> None:
    fonts = Fonts(64)
    assert fonts.pick("東").endswith(".ttc") and fonts.pick("🔥").endswith("Emoji.ttf")
    assert fonts.pick("é") == fonts.primary
    # Without a fallback every missing glyph is the same empty box; with it, two different
    # characters draw different shapes.
    east, capital = _ink(_glyph(fonts, "東")), _ink(_glyph(fonts, "京"))
    assert east.sum() > 200 and (east != capital).sum() > 200
    primary_only = Fonts(64)
    primary_only.cjk = primary_only.emoji = None
    tofu_a, tofu_b = _ink(_glyph(primary_only, "東")), _ink(_glyph(primary_only, "京"))
    assert (tofu_a != tofu_b).sum() == 0  # the boxes the fallback avoids
    # The emoji is drawn in colour (Noto Color Emoji): saturated, non-grey pixels.
    fire = np.asarray(_glyph(fonts, "🔥")).astype(int)
    coloured = (fire[..., 3] > 0) & (np.ptp(fire[..., :3], axis=2) > 80)
    assert coloured.sum() > 200
    # Accents: é is not e.
    assert (_ink(_glyph(fonts, "é")) != _ink(_glyph(fonts, "e"))).sum() > 20


def test_a_japanese_emoji_title_renders_on_the_frame() -> None:
    made = title_image("東京の話題 🔥 Café", 540, 960, None)
    assert made is not None
    image, box = made
    pixels = np.asarray(image).astype(int)
    white = (pixels[..., :3].min(axis=2) > 200) & (pixels[..., 3] > 200)
    assert white.sum() > 500  # the characters are drawn, in white
    assert Box(0, 0, 540, 960).inside(Box(0, 0, 540, 960)) and box.right <= 540
