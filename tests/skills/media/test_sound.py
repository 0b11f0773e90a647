"""The soundtrack: music ducked under the voice, mastered to -14 LUFS / -1 dBTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from skills.media.sound import master, measure, pick_music
from skills.media.voice import SAMPLE_RATE, decode_to_mono, write_wav

pytestmark = pytest.mark.slow


def band_level(samples: np.ndarray, start: float, end: float, freq: float) -> float:
    """Energy around `freq` Hz in [start, end) seconds."""
    piece = samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(piece * np.hanning(piece.size)))
    freqs = np.fft.rfftfreq(piece.size, 1 / SAMPLE_RATE)
    return float(spectrum[(freqs > freq - 15) & (freqs < freq + 15)].sum())


async def test_music_is_ducked_under_the_voice_and_mastered(tmp_path: Path) -> None:
    # "Voice": a 1 kHz tone for 2 s, then 3 s of silence. Music: a steady 200 Hz tone.
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    voice = np.where(t < 2, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
    write_wav(tmp_path / "voice.wav", voice)
    music = tmp_path / "music" / "bed.wav"
    music.parent.mkdir()
    write_wav(music, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32))
    assert pick_music(music.parent, "any") == music and pick_music(tmp_path / "none", "x") is None

    out = await master(
        tmp_path / "voice.wav", music, 5.0, tmp_path / "mix.wav", lufs=-14, true_peak=-1
    )
    mixed = decode_to_mono(out)
    under_voice = band_level(mixed, 1.2, 1.9, 200)
    alone = band_level(mixed, 3.0, 3.7, 200)
    assert alone > 2.5 * under_voice, (alone, under_voice)  # pulled down while "speaking"
    assert band_level(mixed, 1.2, 1.9, 1000) > 10 * band_level(mixed, 3.0, 3.7, 1000)
    loud = await measure(out)
    assert abs(loud.integrated_lufs + 14) <= 1 and loud.true_peak_dbtp <= -1, loud


async def test_mastering_a_quiet_voice_alone(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    subprocess.run(
        [
            "espeak-ng",
            "-a",
            "20",
            "-w",
            str(path),
            "A rather quiet voice, mastered to the level the platforms play everything at.",
        ],
        check=True,
        timeout=60,
    )
    before = await measure(path)
    assert before.integrated_lufs < -24
    out = await master(path, None, 4.0, tmp_path / "m.wav", lufs=-14, true_peak=-1)
    after = await measure(out)
    assert abs(after.integrated_lufs + 14) <= 1 and after.true_peak_dbtp <= -1, after
