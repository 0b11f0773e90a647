"""Chimera's MCP server: `chimera mcp serve` (stdio) and `chimera mcp serve --http`.

Built on the official SDK's low-level `Server` (mcp v2), whose handlers are ours: the tools'
schemas are the skill registry's and the pipeline tools' own models, not derived from
function signatures. The composition root (`open_deps`) opens what the handlers use, once,
before serving: the schema check, a database pool, one idempotent producer, a skill context
whose media folder is `<media>/mcp` (an assistant's downloads and renders never touch the
pipeline's files), the auditor; over stdio it verifies CHIMERA_MCP_TOKEN.

A tool call: the caller (bearer token over HTTP, CHIMERA_MCP_TOKEN over stdio) must hold the
tool's role; the tool runs; the call is audited (`chimera.mcp.audit`). Failures are MCP tool
error results (`isError`) whose text is `{"error": ...}` in the specification's error format,
never a stack trace (unexpected ones are logged here, with theirs). An unknown tool, resource
or prompt is a JSON-RPC error (-32602), as the MCP specification asks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import mcp_types as types
import uvicorn
from aiokafka.errors import KafkaError
from mcp.server import Server
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from pydantic import AnyHttpUrl, SecretStr
from starlette.applications import Starlette

from agents.runtime.topics import ensure_topics
from chimera import package_version
from chimera.auth.roles import REQUIRED, Role
from chimera.auth.users import verify_token
from chimera.mcp import pipeline, resources
from chimera.mcp.audit import McpAuditor
from chimera.mcp.caller import Caller, ChimeraTokenVerifier, PoolRef, Transport, current_caller
from chimera.mcp.context import Deps, ToolContext
from chimera.mcp.tools import McpTool, all_tools
from chimera.run_skill import skill_context
from core.db import create_pool, require_schema
from core.errors import (
    ChimeraError,
    ConfigError,
    ErrorInfo,
    OperationError,
    PermanentError,
    TransientError,
    UnknownError,
    ValidationError,
)
from core.kafka import make_producer
from core.settings import Settings
from events import Topics
from skills import load_all
from skills.settings.script import ScriptSettings

log = logging.getLogger("chimera.mcp")
MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "Chimera is an autonomous short-video pipeline (trends -> decision -> render -> publish). "
    "Read with list_trends, list_content, show_content, list_publications, pipeline_status, "
    "list_audit_entries, list_dead_letters, and the chimera:// resources. Publishing is never "
    "a tool: request_publication records a request; reviewers decide with approve_content or "
    "reject_content. Every call is audited under your name."
)


@asynccontextmanager
async def open_deps(
    settings: Settings,
    transport: Transport,
    token: SecretStr | None = None,
    *,
    decision_wait_s: float = 10.0,
) -> AsyncIterator[Deps]:
    """The server's resources, opened before serving and closed after (one clear
    ChimeraError when the database, the schema, Kafka or the stdio token is not right)."""
    await require_schema(settings)
    pool = await create_pool(settings, max_size=5)
    producer = make_producer(settings, client_id="chimera-mcp")
    try:
        stdio_caller: Caller | None = None
        if transport == "stdio":
            if token is None or not token.get_secret_value():
                raise ConfigError(
                    "the stdio server acts for a user: set CHIMERA_MCP_TOKEN to one of their "
                    "API tokens (`chimera users token NAME`)"
                )
            principal = await verify_token(pool, token.get_secret_value())
            if principal is None:
                raise ConfigError(
                    "CHIMERA_MCP_TOKEN is not a valid API token (unknown, revoked, or its user "
                    "is disabled)"
                )
            stdio_caller = Caller.of(principal, "stdio")
        try:
            await ensure_topics(settings)  # the audit topic included, before the first call
            await producer.start()
        except (KafkaError, OSError) as exc:
            raise ConfigError(
                f"Kafka at {settings.bootstrap_servers} does not answer: {exc}"
            ) from exc
        # An assistant's downloads and renders go to their own folder, never the pipeline's.
        sandbox = settings.model_copy(update={"media_dir": settings.media_root / "mcp"})
        async with skill_context(sandbox) as skills:
            yield Deps(
                settings=settings,
                pool=pool,
                producer=producer,
                skills=skills,
                auditor=McpAuditor(producer, Topics(settings.topic_prefix)),
                stdio_caller=stdio_caller,
                decision_wait_s=decision_wait_s,
            )
    finally:
        await producer.stop()
        await pool.close()


def _as_error(exc: Exception, tool: str) -> ErrorInfo:
    """Any failure of a call as the specification's error format (no stack trace)."""
    if isinstance(exc, OperationError):
        return exc.info
    if isinstance(exc, ChimeraError):
        return ValidationError(str(exc), code="REFUSED").info
    if isinstance(exc, KafkaError | OSError | asyncpg.PostgresConnectionError | TimeoutError):
        return TransientError(
            f"a backend did not answer: {type(exc).__name__}", code="BACKEND_UNAVAILABLE"
        ).info
    log.error("MCP tool %s failed unexpectedly", tool, exc_info=exc)
    return UnknownError(
        f"{tool} failed unexpectedly ({type(exc).__name__}); the server's log has the details",
        code="UNEXPECTED_ERROR",
    ).info


def _error_result(
    info: ErrorInfo, structured: dict[str, Any] | None = None
) -> types.CallToolResult:
    text = json.dumps({"error": info.model_dump(mode="json")})
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=True,
    )


class ChimeraMcp:
    """The MCP server over one set of `Deps`: its tools, resources and prompts."""

    def __init__(self, deps: Deps, tools: dict[str, McpTool] | None = None) -> None:
        self.deps = deps
        self.tools = tools or all_tools(load_all(), ScriptSettings(), pipeline.TOOLS)
        self.server: Server[Any] = Server(
            "chimera",
            version=package_version(),
            title="Chimera",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )

    # --- tools ------------------------------------------------------------------------------
    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        del ctx, params
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=tool.name,
                    title=tool.title,
                    description=f"{tool.description} (Needs the {REQUIRED[tool.needs]} role.)",
                    input_schema=tool.input_schema,
                    output_schema=tool.output_schema,
                    annotations=tool.hints.annotations(tool.title),
                    _meta={"chimera/role": REQUIRED[tool.needs].value},
                )
                for tool in self.tools.values()
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        del ctx
        tool = self.tools.get(params.name)
        if tool is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        caller = current_caller(self.deps.stdio_caller)
        arguments = dict(params.arguments or {})
        if caller is None:  # the transports never let this through; refuse all the same
            return _error_result(PermanentError("who is calling?", code="UNAUTHENTICATED").info)
        call = ToolContext(self.deps, caller, tool.name, arguments=arguments)
        began = time.monotonic()
        try:
            if not caller.may(tool.needs):
                needed: Role = REQUIRED[tool.needs]
                raise PermanentError(
                    f"{caller.name} is a {caller.role.value}: {tool.name} needs the "
                    f"{needed.value} role or higher",
                    code="FORBIDDEN",
                    details={"role": caller.role.value, "needs": needed.value},
                )
            answer = await tool.run(call, arguments)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            info = _as_error(exc, tool.name)
            await self._audit(call, tool, began, error=info)
            return _error_result(info)
        audited = await self._audit(call, tool, began, result=answer.structured, error=answer.error)
        if answer.error is not None:
            return _error_result(answer.error, answer.structured)
        if not audited and not call.pending:
            # A read that cannot be audited is not answered.
            return _error_result(
                TransientError(
                    "the call could not be audited; try again", code="AUDIT_UNAVAILABLE"
                ).info
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(answer.structured))],
            structured_content=answer.structured,
        )

    async def _audit(
        self,
        call: ToolContext,
        tool: McpTool,
        began: float,
        *,
        result: Any = None,
        error: ErrorInfo | None = None,
    ) -> bool:
        """The call's final audit entry; False (logged) when it could not be written."""
        try:
            await self.deps.auditor.record(
                caller=call.caller,
                tool=tool.name,
                key=call.key,
                status="failure" if error is not None else "success",
                arguments=call.arguments,
                facts=call.facts,
                result=result,
                error=error.model_dump(mode="json") if error is not None else None,
                skill_name=tool.skill,
                duration_s=time.monotonic() - began,
            )
        except (KafkaError, OSError) as exc:
            log.error("MCP call %s by %s not audited: %s", tool.name, call.caller.name, exc)
            return False
        return True

    # --- resources and prompts --------------------------------------------------------------
    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        del ctx, params
        return types.ListResourcesResult(resources=await resources.listed(self.deps))

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        del ctx, params
        return types.ListResourceTemplatesResult(resource_templates=resources.templates())

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        del ctx
        return types.ReadResourceResult(contents=[await resources.read(self.deps, str(params.uri))])

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        del ctx, params
        return types.ListPromptsResult(prompts=resources.PROMPTS)

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        del ctx
        return resources.prompt(params.name, params.arguments)

    # --- transports -------------------------------------------------------------------------
    async def run_stdio(self) -> None:
        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    def http_app(self, host: str, port: int) -> Starlette:
        """Streamable HTTP at /mcp; every request needs a valid bearer token (else 401)."""
        pool = PoolRef()
        pool.pool = self.deps.pool
        return self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            host=host,
            # A resource server only: no OAuth routes are served (no provider, no resource
            # URL); `issuer_url` is required by the SDK's settings and names this server.
            auth=AuthSettings(
                issuer_url=AnyHttpUrl(f"http://{host}:{port}"), resource_server_url=None
            ),
            token_verifier=ChimeraTokenVerifier(pool),
        )


async def serve_stdio(settings: Settings, token: SecretStr | None) -> None:
    async with open_deps(settings, "stdio", token) as deps:
        await ChimeraMcp(deps).run_stdio()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, saying when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


async def serve_http(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM; prints `listening on <url>` (with the real port when
    `port` is 0) on stderr once it accepts connections."""
    check_address(host, port)
    async with open_deps(settings, "http") as deps:
        app = ChimeraMcp(deps).http_app(host, port)
        server = _Uvicorn(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait([serving, ready], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1]
            print(f"listening on http://{host}:{bound}{MCP_PATH}", file=sys.stderr, flush=True)
        try:
            await serving
        except SystemExit:  # uvicorn's way of saying it could not start
            raise ConfigError(f"the MCP server could not start on {host}:{port}") from None


def check_address(host: str, port: int) -> None:
    """One clear line, before anything starts, when the address cannot be listened on."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
