"""The console served in-process by uvicorn on a free loopback port, for HTTP and browser
tests; and Chromium as Debian ships it, driven by Playwright."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn

from chimera.console.app import create_app
from chimera.console.settings import ConsoleSettings
from core.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
# Chromium must not try hosts it cannot reach here; as root it needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
]
ARTEFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"


@asynccontextmanager
async def serving(settings: Settings, console: ConsoleSettings | None = None) -> AsyncIterator[str]:
    """The console's base URL while it runs (its lifespan included)."""
    config = uvicorn.Config(
        create_app(settings, console or ConsoleSettings(session_key="test-key-" + "x" * 32)),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
