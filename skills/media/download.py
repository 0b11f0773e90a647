"""`skill_download_video`: fetch a video with yt-dlp, safely and at most once.

* Every request yt-dlp makes (extraction, redirects, media) passes the SSRF guard
  (`skills.net.ytdlp.GuardedYoutubeDL`); only the extractors of `download_allowed_extractors`
  are loaded.
* Size and duration limits: a `match_filter` refuses before downloading when the extractor
  knows them; yt-dlp's `max_filesize` aborts when the server's Content-Length is too large; a
  progress hook stops a download that grows past the limit; the result is probed afterwards.
* Format: mp4 at most 1080p (video+audio merged by ffmpeg when they come apart).
* YouTube's JavaScript challenges are solved by yt-dlp's EJS scripts on Deno (the runtime is
  `CHIMERA_DOWNLOAD_JS_RUNTIME`, default the `deno` package's binary; see `skills.net.ytdlp`).
* At most once: yt-dlp's download archive (`downloads/archive.txt`, yt-dlp's own format) plus a
  small index of what was downloaded, by source URL and by archive key. Asking again for a URL
  already downloaded answers from the index without any request; a different URL of a video in
  the archive costs one extraction (to learn its id) but no media download.

Files go to `<media root>/downloads/`, named `<extractor>-<id>.<ext>`.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.errors import (
    OperationError,
    PermanentError,
    TransientError,
    ValidationError,
)
from core.private import private_dir, private_file
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext, SkillPaths
from skills.files import write_text_atomic
from skills.http import refused_error
from skills.media.common import probe, sha256_file
from skills.net.guard import UrlGuard, URLRefused
from skills.settings.media import MediaSettings

log = logging.getLogger("chimera.skills.media.download")


class DownloadVideoInput(SkillInput):
    """A video page or file URL (http or https) to download."""

    url: str = Field(min_length=1, max_length=4096)
    force: bool = Field(default=False, description="Download again even if already archived.")
    max_height: int | None = Field(
        default=None, ge=144, le=4320, description="Lower the height cap for this call."
    )


class VideoSource(BaseModel):
    """Where a downloaded video came from, as yt-dlp's extractor reported it."""

    id: str = ""
    title: str = ""
    extractor: str = ""
    webpage_url: str = ""
    uploader: str | None = None
    original_url: str = ""


class DownloadVideoOutput(SkillOutput):
    """The downloaded file and what it is."""

    path: str | None = None
    duration: float = 0.0
    width: int | None = None
    height: int | None = None
    size: int = 0
    sha256: str = ""
    source: VideoSource = Field(default_factory=VideoSource)
    from_archive: bool = False


# --- The index: archive key -> record, URL -> archive key ---------------------------------------
class DownloadIndex:
    """Records of finished downloads beside yt-dlp's archive file (one JSON file per entry,
    written atomically, so concurrent downloads never corrupt each other's entries)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta = folder / ".index"
        self.archive = folder / "archive.txt"

    @staticmethod
    def _name(kind: str, text: str) -> str:
        return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"

    def record_for_url(self, url: str) -> dict[str, Any] | None:
        alias = self._read(self.meta / self._name("url", url))
        return self.record(alias["key"]) if alias and "key" in alias else None

    def record(self, key: str) -> dict[str, Any] | None:
        found = self._read(self.meta / self._name("key", key))
        if not found or not Path(found.get("path", "")).is_file():
            return None
        # A record is only as good as its file: a replaced or truncated file is re-fetched.
        if Path(found["path"]).stat().st_size != found.get("size"):
            return None
        return found

    def save(self, key: str, url: str, record: dict[str, Any]) -> None:
        write_text_atomic(self.meta / self._name("key", key), json.dumps(record))
        self.alias(url, key)

    def alias(self, url: str, key: str) -> None:
        write_text_atomic(self.meta / self._name("url", url), json.dumps({"key": key}))

    @contextmanager
    def _archive_lock(self) -> Iterator[None]:
        private_dir(self.folder)
        with (self.folder / ".archive.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def forget(self, key: str) -> None:
        """Drop `key` from the archive (a download that was refused after the fact)."""
        with self._archive_lock():
            if not self.archive.exists():
                return
            lines = self.archive.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if line.strip() != key]
            write_text_atomic(self.archive, "".join(f"{line}\n" for line in kept))

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


# --- yt-dlp plumbing ----------------------------------------------------------------------------
class _TooLarge(Exception):
    """Raised from the progress hook to stop a download past the size limit."""


@dataclass
class _Run:
    """What one download learnt along the way (yt-dlp reports some refusals only in logs)."""

    max_bytes: int
    rejections: list[tuple[str, str]] = field(default_factory=list)
    too_large: bool = False
    messages: list[str] = field(default_factory=list)
    partial_files: set[str] = field(default_factory=set)

    # yt-dlp logger interface: debug (and info), warning, error.
    def debug(self, msg: str) -> None:
        if "larger than max-filesize" in msg:
            self.too_large = True
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        self.debug(msg)

    def warning(self, msg: str) -> None:
        self.messages.append(msg)
        log.info("yt-dlp warning: %s", msg)

    def error(self, msg: str) -> None:
        self.messages.append(msg)
        log.info("yt-dlp error: %s", msg)

    def match_filter(
        self, info: dict[str, Any], *, incomplete: bool = False, max_duration: float = 0
    ) -> str | None:
        """Refuse live streams, and videos known to be too long or too large, pre-download."""
        reason: tuple[str, str] | None = None
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            reason = ("LIVE_NOT_SUPPORTED", "live streams are not downloaded")
        elif (duration := info.get("duration")) and duration > max_duration:
            reason = (
                "VIDEO_TOO_LONG",
                f"video is {duration:.0f} s long, the limit is {max_duration:.0f} s",
            )
        elif (
            size := info.get("filesize") or info.get("filesize_approx")
        ) and size > self.max_bytes:
            reason = (
                "FILE_TOO_LARGE",
                f"video is {size} bytes, the limit is {self.max_bytes} bytes",
            )
        if reason is None:
            return None
        self.rejections.append(reason)
        return reason[1]

    def progress(self, status: dict[str, Any]) -> None:
        if tmp := status.get("tmpfilename"):
            self.partial_files.add(str(tmp))
        if status.get("status") == "downloading":
            done = status.get("downloaded_bytes") or 0
            if done > self.max_bytes:
                self.too_large = True
                raise _TooLarge(f"download passed {self.max_bytes} bytes")


def _format(max_height: int) -> str:
    h = f"[height<={max_height}]"
    # Native protocols only (rtmp etc. would need an external program outside the guard).
    native = "[protocol!^=rtmp][protocol!=websocket_frag]"
    return (
        f"bv*{h}[ext=mp4]{native}+ba[ext=m4a]{native}/b{h}[ext=mp4]{native}/b{h}{native}/b{native}"
    )


def _options(
    paths: SkillPaths, cfg: MediaSettings, run: _Run, folder: Path, max_height: int
) -> dict[str, Any]:
    from skills.net.ytdlp import GUARDED_OPTIONS, js_runtime_options

    max_duration = cfg.download_max_duration_s
    options: dict[str, Any] = {
        "format": _format(max_height),
        "merge_output_format": "mp4",
        "paths": {"home": str(folder), "temp": str(folder / ".partial")},
        "outtmpl": {"default": "%(extractor_key)s-%(id)s.%(ext)s"},
        "restrictfilenames": True,
        "windowsfilenames": True,
        "download_archive": str(folder / "archive.txt"),
        "max_filesize": run.max_bytes,
        "match_filter": lambda info, *, incomplete=False: run.match_filter(
            info, incomplete=incomplete, max_duration=max_duration
        ),
        "progress_hooks": [run.progress],
        "allowed_extractors": list(cfg.download_allowed_extractors),
        "sleep_interval": cfg.download_sleep_interval_s,
        "max_sleep_interval": max(cfg.download_sleep_interval_s, cfg.download_max_sleep_interval_s),
        "socket_timeout": cfg.download_socket_timeout_s,
        "retries": cfg.download_retries,
        "ratelimit": cfg.download_rate_limit_bytes_s,
        "fragment_retries": cfg.download_retries,
        "extractor_retries": cfg.download_retries,
        "playlist_items": "1",
        "logger": run,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "color": {"stdout": "never", "stderr": "never"},
        "updatetime": False,
        "overwrites": True,
        **js_runtime_options(cfg.download_js_runtime, cfg.download_js_runtime_path),
    }
    options.update(GUARDED_OPTIONS)  # last: nothing may switch the guard's options off
    return options


def _archive_key(info: dict[str, Any]) -> str | None:
    from yt_dlp.utils import make_archive_id

    extractor = info.get("extractor_key") or info.get("ie_key")
    video_id = info.get("id")
    return make_archive_id(extractor, video_id) if extractor and video_id else None


def _final_path(info: dict[str, Any]) -> Path | None:
    for item in info.get("requested_downloads") or []:
        path = item.get("filepath") or item.get("_filename")
        if path and Path(path).is_file():
            return Path(path)
    path = info.get("filepath") or info.get("_filename")
    return Path(path) if path and Path(path).is_file() else None


def _record(path: Path, info: dict[str, Any], url: str, cfg: MediaSettings) -> dict[str, Any]:
    media = probe(path)
    if media.duration > cfg.download_max_duration_s:
        raise ValidationError(
            f"video is {media.duration:.0f} s long, the limit is "
            f"{cfg.download_max_duration_s:.0f} s",
            code="VIDEO_TOO_LONG",
            details={"duration": media.duration},
        )
    size = path.stat().st_size
    if size > cfg.max_filesize_bytes:
        raise ValidationError(
            f"video is {size} bytes, the limit is {cfg.max_filesize_bytes}",
            code="FILE_TOO_LARGE",
            details={"size": size},
        )
    return {
        "path": str(path),
        "duration": media.duration,
        "width": media.width,
        "height": media.height,
        "size": size,
        "sha256": sha256_file(path),
        "source": {
            "id": str(info.get("id") or ""),
            "title": str(info.get("title") or ""),
            "extractor": str(info.get("extractor_key") or info.get("extractor") or ""),
            "webpage_url": str(info.get("webpage_url") or url),
            "uploader": info.get("uploader"),
            "original_url": url,
        },
    }


def _cause_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc` and what caused it: yt-dlp's `cause`/`exc_info`, else `__cause__`/`__context__`."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        nxt = getattr(exc, "cause", None)
        if not isinstance(nxt, BaseException):
            exc_info = getattr(exc, "exc_info", None)
            nxt = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        exc = nxt if isinstance(nxt, BaseException) else (exc.__cause__ or exc.__context__)


def _http_status(exc: BaseException | None) -> tuple[int, Any] | None:
    for cause in _cause_chain(exc):
        status = getattr(cause, "status", None)
        if isinstance(status, int) and 100 <= status < 600:
            return status, getattr(getattr(cause, "response", None), "headers", None)
    return None


def _translate(exc: BaseException, run: _Run, guard: UrlGuard, url: str) -> OperationError:
    """A yt-dlp failure in the specification's categories."""
    from skills.net.ytdlp import find_refusal

    refusal = find_refusal(exc) or (guard.refusals[0] if guard.refusals else None)
    if refusal is not None:
        return refused_error(refusal)
    if run.too_large or find_cause(exc, _TooLarge):
        return ValidationError(
            f"video is larger than {run.max_bytes} bytes",
            code="FILE_TOO_LARGE",
            details={"limit": run.max_bytes},
        )
    if run.rejections:
        code, message = run.rejections[0]
        return ValidationError(message, code=code)
    text = str(exc)
    status = _http_status(exc)
    if status is not None:
        status_code, headers = status
        details = {"url": url, "status": status_code}
        if status_code in (404, 410):
            return ValidationError(
                f"source answered {status_code}: {text}", code="SOURCE_NOT_FOUND", details=details
            )
        if status_code in (401, 403, 451):
            return PermanentError(
                f"source refused access ({status_code}): {text}",
                code="ACCESS_DENIED",
                details=details,
            )
        if status_code == 429 or status_code >= 500 or status_code == 408:
            retry_after = None
            with suppress(TypeError, ValueError, AttributeError):
                retry_after = float(headers.get("Retry-After")) if headers else None
            code = "RATE_LIMITED" if status_code == 429 else "SOURCE_UNAVAILABLE"
            return TransientError(
                f"source answered {status_code}: {text}",
                code=code,
                details=details,
                retry_after=retry_after,
            )
        return PermanentError(
            f"source answered {status_code}: {text}", code="DOWNLOAD_FAILED", details=details
        )
    if re.search(r"Unsupported URL|No suitable extractor|not a valid URL", text, re.I):
        return ValidationError(
            f"no video found at {url}",
            code="UNSUPPORTED_URL",
            details={"url": url, "reason": text[:500]},
        )
    if "Requested format is not available" in text:
        return ValidationError(
            "no mp4/compatible format within the limits",
            code="NO_SUITABLE_FORMAT",
            details={"url": url},
        )
    from yt_dlp.networking.exceptions import TransportError

    if (
        find_cause(exc, TransportError)
        or find_cause(exc, TimeoutError)
        or find_cause(exc, ConnectionError)
    ):
        return TransientError(f"network error: {text}", code="NETWORK_ERROR", details={"url": url})
    return PermanentError(
        f"download failed: {text}",
        code="DOWNLOAD_FAILED",
        details={"url": url, "messages": run.messages[-5:]},
    )


def find_cause(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    return next((cause for cause in _cause_chain(exc) if isinstance(cause, kind)), None)


def _drop_partials(run: _Run) -> None:
    """Remove the partial files of a failed download (yt-dlp keeps them to resume)."""
    for name in run.partial_files:
        Path(name).unlink(missing_ok=True)


# Striped locks (a fixed set, so nothing grows with the number of URLs ever seen).
_URL_LOCKS = tuple(threading.Lock() for _ in range(64))


@contextmanager
def _one_at_a_time(url: str) -> Iterator[None]:
    """Serialise downloads of the same URL in this process: the second finds the first's file."""
    stripe = int.from_bytes(hashlib.sha256(url.encode()).digest()[:4], "big") % len(_URL_LOCKS)
    with _URL_LOCKS[stripe]:
        yield


def download_blocking(
    url: str,
    paths: SkillPaths,
    cfg: MediaSettings,
    *,
    force: bool = False,
    max_height: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Download `url` (in the calling thread); returns (record, from_archive)."""
    with _one_at_a_time(url):
        return _download(url, paths, cfg, force=force, max_height=max_height)


def _download(
    url: str, paths: SkillPaths, cfg: MediaSettings, *, force: bool, max_height: int | None
) -> tuple[dict[str, Any], bool]:
    from yt_dlp.utils import YoutubeDLError

    from skills.net.ytdlp import GuardedYoutubeDL

    guard = UrlGuard(cfg.ssrf_allowed_hosts)
    try:
        guard.check_url(url)
    except URLRefused as exc:
        raise refused_error(exc) from None

    folder = private_dir(paths.media_dir / "downloads")
    index = DownloadIndex(folder)
    if not force and (known := index.record_for_url(url)) is not None:
        return known, True

    run = _Run(max_bytes=cfg.max_filesize_bytes)
    height = min(max_height or cfg.download_max_height, cfg.download_max_height)
    options = _options(paths, cfg, run, folder, height)
    key: str | None = None
    try:
        with GuardedYoutubeDL(options, guard=guard) as ydl:
            found = ydl.extract_info(url, download=False, process=False)
            if not isinstance(found, dict):
                raise ValidationError(f"no video found at {url}", code="UNSUPPORTED_URL")
            key = _archive_key(found)
            if key is not None and ydl.in_download_archive(found):
                known = None if force else index.record(key)
                if known is not None:
                    index.alias(url, key)
                    return known, True
                # Archived, but the file is gone (or a forced refresh): fetch it again.
                ydl.archive.discard(key)
            info = ydl.process_ie_result(found, download=True)
    except OperationError:
        _drop_partials(run)
        raise
    except (YoutubeDLError, _TooLarge, OSError) as exc:  # DownloadError, RequestError, ...
        _drop_partials(run)
        raise _translate(exc, run, guard, url) from exc

    if isinstance(info, dict) and info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
        info = entries[0] if entries else {}
    if run.rejections or run.too_large:  # refused by the match filter or the size limit
        _drop_partials(run)
        raise _translate(RuntimeError("download refused"), run, guard, url)
    path = _final_path(info) if isinstance(info, dict) else None
    if path is None:
        raise PermanentError(
            f"yt-dlp finished without a file for {url}",
            code="DOWNLOAD_FAILED",
            details={"url": url, "messages": run.messages[-5:]},
        )
    key = _archive_key(info) or key or f"url {url}"
    if path.exists():
        private_file(path)  # yt-dlp created it by the umask
    try:
        record = _record(path, info, url, cfg)
    except Exception as exc:
        # Over a limit only the probe could see, or not a readable video: not kept, not archived.
        path.unlink(missing_ok=True)
        index.forget(key)
        if isinstance(exc, OperationError):
            raise
        raise ValidationError(
            f"the downloaded file is not a readable video: {exc}",
            code="UNREADABLE_MEDIA",
            details={"url": url},
        ) from exc
    index.save(key, url, record)
    return record, False


@skill("skill_download_video")
async def download_video(data: DownloadVideoInput, ctx: SkillContext) -> DownloadVideoOutput:
    """Download a video (mp4, at most 1080p) from a URL through the SSRF guard, at most once.

    Refusals by the guard are ValidationError `URL_REFUSED`; videos over the size or duration
    limits are ValidationError `FILE_TOO_LARGE` / `VIDEO_TOO_LONG`; network failures are
    TransientError; a URL without a video is ValidationError `UNSUPPORTED_URL`.
    """
    cfg = ctx.settings.media
    record, from_archive = await asyncio.to_thread(
        download_blocking, data.url, ctx.paths, cfg, force=data.force, max_height=data.max_height
    )
    return DownloadVideoOutput(
        success=True,
        path=record["path"],
        duration=record["duration"],
        width=record["width"],
        height=record["height"],
        size=record["size"],
        sha256=record["sha256"],
        source=VideoSource(**record["source"]),
        from_archive=from_archive,
    )
