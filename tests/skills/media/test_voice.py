"""Narration: the bundled Piper voice, espeak-ng as the fallback, the OpenAI-compatible cloud
engine (respx, documented responses and errors) falling back to the local voice, and pace."""

from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
import respx
from pydantic import SecretStr

from core.errors import PermanentError, TransientError
from skills.media.voice import (
    PACE_TOLERANCE,
    SAMPLE_RATE,
    EspeakEngine,
    NarrationRequest,
    OpenAISpeechEngine,
    PiperEngine,
    bundled_piper_voice,
    engines_for,
    local_engine,
    narrate,
    trim_to_fit,
)
from tests.skills.media.support import media_config

LINES = [
    "Octopuses have three hearts.",
    "Two of them pump blood through the gills, and one pumps it to the rest of the body.",
    "Their blood is blue because it carries copper.",
    "Follow for more ocean facts.",
]
SPEECH_URL = "https://tts.example.test/v1"


def wav_bytes(seconds: float = 1.0, rate: int = 24_000) -> bytes:
    """A real WAV body, as the endpoint sends with response_format=wav (a 220 Hz tone)."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def seconds_of(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_the_bundled_piper_voice_is_the_default() -> None:
    files = bundled_piper_voice()
    assert files is not None and files[0].name == "en_US-joe-medium.onnx"
    engine = local_engine(media_config())
    assert isinstance(engine, PiperEngine) and engine.voice == "en_US-joe-medium"


def test_espeak_when_no_neural_voice_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import skills.media.voice as voice

    monkeypatch.setattr(voice, "bundled_piper_voice", lambda: None)  # package not installed
    assert isinstance(local_engine(media_config()), EspeakEngine)
    with pytest.raises(PermanentError) as refused:
        local_engine(media_config(tts_engine="piper"))
    assert refused.value.code == "TTS_UNAVAILABLE"
    missing = media_config(piper_voice=Path("/nowhere/voice.onnx"))
    with pytest.raises(PermanentError):
        local_engine(missing)


async def test_piper_narration_with_line_timings(tmp_path: Path) -> None:
    engine = local_engine(media_config())
    spoken = await narrate(LINES, tmp_path / "n.wav", [engine])
    assert spoken.voice.engine == "piper" and spoken.voice.fallback_from is None
    assert abs(seconds_of(spoken.path) - spoken.duration) < 0.01
    # Lines in order, not overlapping, each as long as its words need.
    assert [t.text for t in spoken.lines] == LINES
    for a, b in zip(spoken.lines, spoken.lines[1:], strict=False):
        assert a.end < b.start
    assert spoken.lines[1].end - spoken.lines[1].start > spoken.lines[0].end - spoken.lines[0].start
    assert 2.0 < spoken.voice.words_per_second < 4.5  # a natural pace, measured


@pytest.mark.parametrize("target", [6.0, 13.0])
async def test_pace_meets_the_target_within_ten_percent(tmp_path: Path, target: float) -> None:
    engine = local_engine(media_config())
    natural = await narrate(LINES, tmp_path / "a.wav", [engine])
    paced = await narrate(LINES, tmp_path / "b.wav", [engine], target_duration_s=target)
    assert abs(paced.duration - target) <= target * PACE_TOLERANCE, (natural.duration, paced)
    if target < natural.duration:  # too long: faster, or lines trimmed (never hook or CTA)
        assert paced.voice.length_scale < 1 or paced.voice.trimmed_lines > 0
        assert paced.lines[0].text == LINES[0] and paced.lines[-1].text == LINES[-1]
    else:
        assert paced.voice.length_scale > 1  # slower


def test_trimming_keeps_hook_and_call_to_action() -> None:
    kept = trim_to_fit(LINES, words_per_second=3.0, target=4.0)
    assert kept[0] == LINES[0] and kept[-1] == LINES[-1] and len(kept) < len(LINES)
    assert trim_to_fit(LINES, 3.0, 60.0) == LINES


async def test_espeak_speaks_and_is_paced(tmp_path: Path) -> None:
    engine = EspeakEngine("en", 165)
    slow = await engine.speak("A short test of the fallback voice.", 1.25)
    fast = await engine.speak("A short test of the fallback voice.", 0.8)
    assert slow.samples.size > fast.samples.size > SAMPLE_RATE // 2


def cloud_config(**extra: object):
    return media_config(
        tts_engine="openai",
        openai_tts_url=SPEECH_URL,
        openai_tts_api_key=SecretStr("sk-test-key"),
        openai_tts_voice="nova",
        **extra,
    )


@respx.mock
async def test_openai_speech_request_and_audio(tmp_path: Path) -> None:
    route = respx.post(f"{SPEECH_URL}/audio/speech").mock(
        return_value=httpx.Response(
            200, content=wav_bytes(1.0), headers={"content-type": "audio/wav"}
        )
    )
    async with httpx.AsyncClient() as http:
        engines = engines_for(cloud_config(), http, NarrationRequest())
        assert [e.name for e in engines][:2] == ["openai", "piper"]
        spoken = await narrate(["Hello there.", "Bye."], tmp_path / "n.wav", engines)
    assert spoken.voice.engine == "openai" and spoken.voice.voice == "nova"
    assert route.call_count == 2  # one request per line
    request = route.calls[0].request
    assert request.headers["authorization"] == "Bearer sk-test-key"
    body = json.loads(request.content)
    assert body == {
        "model": "tts-1",
        "input": "Hello there.",
        "voice": "nova",
        "response_format": "wav",
        "speed": 1.0,
    }
    # 2 x 1 s of tone (resampled to 48 kHz, edges trimmed) and a pause.
    assert 2.0 < spoken.duration < 2.5


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "transient"),
    [
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided: sk-test-key.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            {},
            "TTS_REFUSED",
            False,
        ),
        (
            429,
            {
                "error": {
                    "message": "Rate limit reached for requests",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            {"retry-after": "20", "x-ratelimit-remaining-requests": "0"},
            "TTS_RATE_LIMITED",
            True,
        ),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota.",
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            },
            {},
            "TTS_REFUSED",
            False,
        ),
        (
            500,
            {"error": {"message": "The server had an error", "type": "server_error"}},
            {},
            "TTS_FAILED",
            True,
        ),
    ],
)
@respx.mock
async def test_openai_errors_fall_back_to_the_local_voice(
    tmp_path: Path, status: int, body: dict, headers: dict, code: str, transient: bool
) -> None:
    respx.post(f"{SPEECH_URL}/audio/speech").mock(
        return_value=httpx.Response(status, json=body, headers=headers)
    )
    async with httpx.AsyncClient() as http:
        engine = OpenAISpeechEngine(http, cloud_config())
        with pytest.raises(TransientError if transient else PermanentError) as raised:
            await engine.speak("Hi.", 1.0)
        assert raised.value.code == code
        if status == 429 and transient:
            assert raised.value.retry_after == 20
        spoken = await narrate(
            ["Hello there."],
            tmp_path / "n.wav",
            engines_for(cloud_config(), http, NarrationRequest()),
        )
    assert spoken.voice.engine == "piper"
    assert spoken.voice.fallback_from == "openai" and code in (spoken.voice.fallback_reason or "")
    assert "sk-test-key" not in (spoken.voice.fallback_reason or "").replace(
        "Incorrect API key provided: sk-test-key.", ""
    )


async def test_unconfigured_cloud_engine_falls_back(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as http:
        engines = engines_for(media_config(tts_engine="openai"), http, NarrationRequest())
        spoken = await narrate(["Hello."], tmp_path / "n.wav", engines)
    assert spoken.voice.engine == "piper" and "TTS_UNAVAILABLE" in (
        spoken.voice.fallback_reason or ""
    )


def test_espeak_binary_is_installed() -> None:
    assert subprocess.run(["espeak-ng", "--version"], capture_output=True).returncode == 0


async def test_piper_times_words_unless_the_text_is_respelt(tmp_path: Path) -> None:
    """Piper's alignment gives each word's time; a number spoken as several words cannot be
    mapped one to one, so that line is left to Whisper."""
    spoken = await narrate(
        ["It has 120,000 views already.", "Follow for more."],
        tmp_path / "n.wav",
        [local_engine(media_config())],
    )
    assert spoken.timed_lines == {1}
    assert [w.text for w in spoken.words] == ["Follow", "for", "more."]
    line = spoken.lines[1]
    assert all(line.start <= w.start < w.end <= line.end + 0.01 for w in spoken.words)
    assert spoken.words[0].start < spoken.words[1].start < spoken.words[2].start
