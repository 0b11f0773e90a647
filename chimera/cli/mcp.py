"""`chimera mcp serve`: Chimera as an MCP server for assistants (stdio or Streamable HTTP)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chimera.cli.common import ErrorsAsOneLine, load_settings
from core.errors import ChimeraError

mcp_app = typer.Typer(
    no_args_is_help=True,
    cls=ErrorsAsOneLine,
    help="Chimera as an MCP server: tools, resources and prompts for assistants.",
)


class McpServeSettings(BaseSettings):
    """CHIMERA_MCP_TOKEN: the API token the stdio server acts with (a user's, secret)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_MCP_", env_file=".env", extra="ignore")

    token: SecretStr | None = Field(default=None)


def _first_chimera_error(exc: BaseException) -> ChimeraError | None:
    """The ChimeraError inside (nested) exception groups of the SDK's task groups."""
    if isinstance(exc, ChimeraError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_chimera_error(inner)
            if found is not None:
                return found
    return None


@mcp_app.command("serve")
def serve(
    http: Annotated[
        bool, typer.Option("--http", help="Streamable HTTP instead of stdio (bearer tokens).")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on (--http).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (--http); 0 picks a free one.")] = 8765,
) -> None:
    """Serve MCP on stdio (for a desktop assistant; CHIMERA_MCP_TOKEN says who it acts for)
    or, with --http, on http://HOST:PORT/mcp, where every request needs
    `Authorization: Bearer <token>` (`chimera users token NAME`)."""
    from chimera.mcp.server import serve_http, serve_stdio
    from core.observability import configure_logging

    settings = load_settings()
    configure_logging()  # on stderr: stdout is the protocol's, over stdio
    try:
        if http:
            asyncio.run(serve_http(settings, host, port))
        else:
            asyncio.run(serve_stdio(settings, McpServeSettings().token))
    except KeyboardInterrupt:
        pass
    except BaseExceptionGroup as group:
        found = _first_chimera_error(group)
        if found is None:
            raise
        raise found from None
