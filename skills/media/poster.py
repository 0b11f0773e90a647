"""Poster frames: one still of a video, extracted with ffmpeg once and kept beside it.

`<video>.poster.jpg` is made on first use (to a temporary name, then renamed, so a reader
never sees half an image) and reused after; a video newer than its poster gets a new one.
Used by the console's players and by the local publisher's page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from core.errors import PermanentError
from skills.files import held_temporary

FFMPEG_TIMEOUT_S = 30.0


def poster_path(video: Path) -> Path:
    """Where the poster of `video` is kept."""
    return video.with_name(video.name + ".poster.jpg")


def _fresh(poster: Path, video: Path) -> bool:
    return poster.is_file() and poster.stat().st_mtime >= video.stat().st_mtime


def ensure_poster(video: Path, at_s: float = 1.0) -> Path:
    """The poster of `video` (a frame at `at_s`, or the first frame of a shorter video),
    extracted now if it is missing or stale. Blocking: run it in a thread from async code.

    Raises PermanentError when the video is missing or ffmpeg cannot read it.
    """
    if not video.is_file():
        raise PermanentError("video not found", code="VIDEO_NOT_FOUND")
    poster = poster_path(video)
    if _fresh(poster, video):
        return poster
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise PermanentError("ffmpeg is not installed", code="FFMPEG_MISSING")
    with held_temporary(poster, ".jpg") as tmp:  # a killed writer's is swept (skills.files)
        for seek in (at_s, 0.0):  # a video shorter than `at_s` has no frame there
            command = [ffmpeg, "-nostdin", "-v", "error", "-y", "-ss", f"{seek:.2f}"]
            done = subprocess.run(
                [*command, "-i", str(video), "-frames:v", "1", "-q:v", "3", str(tmp)],
                capture_output=True,
                timeout=FFMPEG_TIMEOUT_S,
                check=False,
            )
            if done.returncode == 0 and tmp.stat().st_size > 0:
                os.replace(tmp, poster)
                return poster
        raise PermanentError(
            f"ffmpeg could not take a frame: {done.stderr.decode(errors='replace')[-300:]}",
            code="POSTER_FAILED",
        )
