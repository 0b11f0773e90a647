"""The yt-dlp integration: one guarded request handler, and the guard on every request."""

from __future__ import annotations

import socket

import pytest
from yt_dlp.networking.exceptions import RequestError

from skills.net.guard import UrlGuard
from skills.net.ytdlp import GUARDED_OPTIONS, GuardedUrllibRH, GuardedYoutubeDL, find_refusal


def test_the_guarded_handler_is_the_only_one() -> None:
    with GuardedYoutubeDL({"quiet": True, **GUARDED_OPTIONS}, guard=UrlGuard()) as ydl:
        handlers = list(ydl._request_director.handlers.values())
    assert len(handlers) == 1 and isinstance(handlers[0], GuardedUrllibRH)
    assert GuardedUrllibRH._SUPPORTED_URL_SCHEMES == ("http", "https")
    assert GUARDED_OPTIONS["external_downloader"] == {"default": "native"}
    assert GUARDED_OPTIONS["nocheckcertificate"] is False


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "data:text/plain,hi",
        "ftp://example.com/x",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_urlopen_refuses_without_connecting(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def no_connect(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError("must not connect")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    guard = UrlGuard()
    with (
        GuardedYoutubeDL({"quiet": True, **GUARDED_OPTIONS}, guard=guard) as ydl,
        pytest.raises(RequestError) as caught,
    ):
        ydl.urlopen(url)
    assert attempts == []
    if url.startswith("http"):
        refusal = find_refusal(caught.value)
        assert refusal is not None and refusal is guard.refusals[0]
