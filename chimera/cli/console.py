"""`chimera console`: the operator console in the browser (see chimera/console)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError

from chimera.cli.common import load_settings
from core.errors import ChimeraError


def console(
    host: Annotated[
        str | None, typer.Option(help="Listen here (default 127.0.0.1, CHIMERA_CONSOLE_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default 8400, CHIMERA_CONSOLE_PORT).")
    ] = None,
) -> None:
    """Serve the console until Ctrl-C; every page needs a login (`chimera users add`)."""
    import uvicorn

    from chimera.console.app import create_app
    from chimera.console.settings import ConsoleSettings
    from core.db import require_schema
    from core.observability import configure_logging

    settings = load_settings()
    try:
        options = ConsoleSettings()
    except PydanticValidationError as exc:
        raise ChimeraError(f"invalid CHIMERA_CONSOLE_* settings: {exc.errors()[0]['msg']}") from exc
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    options = options.model_copy(update=updates)
    asyncio.run(require_schema(settings))  # one line naming `chimera migrate`, not a traceback
    configure_logging()
    typer.echo(f"console on http://{options.host}:{options.port}/ (Ctrl-C stops it)")
    uvicorn.run(
        create_app(settings, options),
        host=options.host,
        port=options.port,
        log_config=None,
        proxy_headers=False,
        server_header=False,
    )
