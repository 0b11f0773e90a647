"""Agents' own HTTP endpoints (/metrics, /health/*) listen on loopback unless told otherwise."""

from __future__ import annotations

import pytest

from core.observability.http import HttpServer
from core.observability.settings import ObservabilitySettings


async def _ok() -> tuple[int, str, bytes]:
    return 200, "text/plain", b"ok"


async def test_the_default_binds_to_loopback_and_the_setting_changes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHIMERA_HTTP_HOST", raising=False)
    settings = ObservabilitySettings()
    assert settings.http_host == "127.0.0.1"
    server = HttpServer({"/x": _ok}, settings.http_host, settings.http_port)
    await server.start()
    try:
        assert server._server is not None
        assert {s.getsockname()[0] for s in server._server.sockets} == {"127.0.0.1"}
    finally:
        await server.stop()
    monkeypatch.setenv("CHIMERA_HTTP_HOST", "0.0.0.0")
    assert ObservabilitySettings().http_host == "0.0.0.0"
