"""Fixtures of the media skill tests: settings in a temp folder, a loopback HTTP server, a real
short mp4 made by ffmpeg, a guard on every outgoing connection, and the tiny Whisper model."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from core.retry import RetryPolicy
from core.settings import Settings
from skills.context import SkillContext, SkillPaths
from skills.settings import SkillSettings
from skills.settings.media import MediaSettings
from tests.skills.media.support import LoopbackServer, make_clip, serve, speech_wav


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.fixture
def server(tmp_path: Path, clip: Path) -> Iterator[LoopbackServer]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "clip.mp4").write_bytes(clip.read_bytes())
    (root / "page.html").write_text("<html><body><p>No video here.</p></body></html>")
    with serve(root) as state:
        yield state


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every TCP connect of the test, recorded; anything but loopback fails at once.

    This both proves that a refused address was never contacted and keeps a broken guard from
    ever sending a packet to a private or public address from this machine.
    """
    attempts: list[tuple[str, int]] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if isinstance(address, tuple):
            host, port = str(address[0]), int(address[1])
            attempts.append((host, port))
            if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                raise ConnectionRefusedError(f"test forbids connecting to {host}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Chimera settings with the media root in this test's folder (no Kafka/PostgreSQL)."""
    return Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "media")


@pytest.fixture
async def make_ctx(settings: Settings) -> AsyncIterator[object]:
    clients: list[httpx.AsyncClient] = []

    async def no_sleep(_: float) -> None:
        return None

    def build(config: MediaSettings, retries: int = 0) -> SkillContext:
        client = httpx.AsyncClient()
        clients.append(client)
        return SkillContext(
            http=client,
            paths=SkillPaths.of(settings),
            settings=SkillSettings(media=config),
            sleep=no_sleep,
            retry=RetryPolicy(max_retries=retries),
        )

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CTranslate2 Whisper model directory with tiny random weights (built once)."""
    from tests.skills.media.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("models") / "tiny-whisper")


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About four seconds of espeak-ng speech."""
    return speech_wav(
        tmp_path_factory.mktemp("speech") / "speech.wav",
        "Hello world. This is a short test of the transcription pipeline.",
    )
