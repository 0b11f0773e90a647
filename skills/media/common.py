"""What the media skills share: where files may be, hashing, probing, atomic writes, limits."""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from dataclasses import dataclass
from pathlib import Path

from core.errors import ValidationError
from skills.context import SkillPaths


def media_path(paths: SkillPaths, path: Path | str, *, must_exist: bool = True) -> Path:
    """`path` resolved inside the media root (relative paths are taken from it).

    Skills receive paths from events written by other agents; confining them to the media root
    keeps a crafted event from reading or overwriting arbitrary files.
    """
    root = paths.media_dir.resolve()
    candidate = Path(path).expanduser()
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise ValidationError(
            f"{path} is outside the media folder {root}",
            code="PATH_OUTSIDE_MEDIA_ROOT",
            details={"path": str(path), "media_root": str(root)},
        )
    if must_exist and not resolved.is_file():
        raise ValidationError(
            f"no such file: {resolved}", code="FILE_NOT_FOUND", details={"path": str(resolved)}
        )
    return resolved


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class MediaInfo:
    """What a probe of a media file found."""

    duration: float
    width: int | None
    height: int | None
    has_video: bool
    has_audio: bool


def probe(path: Path) -> MediaInfo:
    """Duration, size and streams of a media file (PyAV, i.e. FFmpeg's libraries)."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = 0.0
        if container.duration is not None:
            duration = container.duration / 1_000_000  # av.time_base: microseconds
        else:
            for stream in (video, audio):
                if stream is not None and stream.duration is not None and stream.time_base:
                    duration = max(duration, float(stream.duration * stream.time_base))
        return MediaInfo(
            duration=duration,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            has_video=video is not None,
            has_audio=audio is not None,
        )


class LoopSemaphores:
    """One `asyncio.Semaphore` per event loop and size (a semaphore must not cross loops; a
    changed size in the settings gets its own)."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()

    def get(self, size: int) -> asyncio.Semaphore:
        per_size = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        semaphore = per_size.get(size)
        if semaphore is None:
            semaphore = per_size[size] = asyncio.Semaphore(size)
        return semaphore
