"""Reading the video file: size, MIME type and byte ranges (off the event loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.errors import ValidationError

_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm"}


def video_size(path: Path) -> int:
    """Size in bytes of the video at `path`; ValidationError if missing or empty."""
    try:
        size = path.stat().st_size if path.is_file() else -1
    except OSError:
        size = -1
    if size < 0:
        raise ValidationError(
            "video file not found", code="VIDEO_NOT_FOUND", details={"video_path": str(path)}
        )
    if size == 0:
        raise ValidationError(
            "video file is empty", code="VIDEO_EMPTY", details={"video_path": str(path)}
        )
    return size


def video_mime(path: Path) -> str:
    """The MIME type to declare for the video (video/mp4 unless the suffix says otherwise)."""
    return _MIME.get(path.suffix.lower(), "video/mp4")


def _read(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


async def read_range(path: Path, offset: int, length: int) -> bytes:
    """`length` bytes of the file from `offset`, read in a worker thread."""
    data = await asyncio.to_thread(_read, path, offset, length)
    if len(data) != length:
        raise ValidationError(
            "video file changed while uploading",
            code="VIDEO_CHANGED",
            details={"video_path": str(path)},
        )
    return data
