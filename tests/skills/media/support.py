"""Helpers of the media skill tests (imported by the tests and their conftest)."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from skills.settings.media import MediaSettings


def make_clip(path: Path, seconds: float = 2.0, size: str = "320x240") -> Path:
    """A real mp4 (H.264 test pattern + AAC sine tone) made by ffmpeg."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size={size}:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=44100:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-shortest",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


@dataclass
class LoopbackServer:
    """A threading HTTP server on 127.0.0.1 that serves a folder and records every request."""

    root: Path
    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # each request's Host header

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gets(self, path: str) -> int:
        return sum(1 for method, p in self.requests if method == "GET" and p == path)


class _Handler(http.server.SimpleHTTPRequestHandler):
    server_state: LoopbackServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _record(self) -> None:
        self.server_state.requests.append((self.command, urlsplit(self.path).path))
        self.server_state.hosts.append(self.headers.get("Host", ""))

    def do_HEAD(self) -> None:
        self._record()
        super().do_HEAD()

    def do_GET(self) -> None:
        self._record()
        parts = urlsplit(self.path)
        if parts.path == "/redirect":  # /redirect?to=<url>: a 302 to anywhere
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path.startswith("/nolength/"):  # the file, without a Content-Length
            data = (self.server_state.root / parts.path.removeprefix("/nolength/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            self.close_connection = True
            for i in range(0, len(data), 4096):
                self.wfile.write(data[i : i + 4096])
            return
        super().do_GET()


def media_config(**overrides: object) -> MediaSettings:
    values: dict[str, object] = {
        "download_sleep_interval_s": 0,
        "download_max_sleep_interval_s": 0,
        "download_socket_timeout_s": 5,
        "download_retries": 0,
    }
    values.update(overrides)
    return MediaSettings(**values)  # type: ignore[arg-type]


@contextmanager
def serve(root: Path) -> Iterator[LoopbackServer]:
    """Serve `root` on 127.0.0.1 (a free port) while the block runs."""
    state = LoopbackServer(root)
    handler = type("Handler", (_Handler,), {"server_state": state})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    state.port = httpd.server_address[1]
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def speech_wav(path: Path, text: str) -> Path:
    """Real speech from espeak-ng (a WAV file)."""
    subprocess.run(
        ["espeak-ng", "-v", "en", "-s", "170", "-w", str(path), text], check=True, timeout=60
    )
    return path


def video_with_audio(path: Path, audio: Path, size: str = "160x120") -> Path:
    """An mp4 with a test-pattern picture and `audio` as its sound, as long as the audio."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size={size}:rate=15",
            "-i",
            str(audio),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def ffprobe(path: Path, *args: str) -> dict:
    """ffprobe's JSON answer about `path` (format and streams unless told otherwise)."""
    import json

    query = list(args) or ["-show_format", "-show_streams"]
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *query, str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout)
