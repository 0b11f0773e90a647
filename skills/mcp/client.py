"""Chimera as an MCP client: one connection to one configured server, within its limits.

    async with connect("archive-git", config) as server:
        reply = await server.call("git_add", {"repo_path": "/srv/archive", "files": ["x"]})

What a connection enforces, whatever the server does:
- the allowlist: only allowlisted tools are listed to callers and called; a call of any other
  tool is refused here (`TOOL_NOT_ALLOWED`), before the server sees it;
- the roots: they are the client's MCP roots (`roots/list`), and every path-like argument of a
  call must lie inside one of them (`PATH_OUTSIDE_ROOTS`); an empty list allows no path;
- the timeout: connecting and each call are bounded by `timeout_s` (`MCP_TIMEOUT`);
- the contracts: arguments are checked against the tool's input schema before sending
  (`INVALID_INPUT`), structured results against its output schema (`MCP_OUTPUT_INVALID`).
Failures are `core.errors` by what the caller can do about them, so skills built on this get
the same retry taxonomy as every other skill: timeouts, unreachable or overloaded servers are
transient (retried by `RetryPolicy`); a missing command, a refused connection, a tool error
or a broken contract are permanent; bad arguments are validation errors.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jsonschema
import mcp_types as types
from mcp import Client
from mcp.client import Transport
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from core.errors import OperationError, PermanentError, TransientError, ValidationError
from skills.settings.mcp import McpServerConfig

log = logging.getLogger("chimera.mcp.client")

#: Argument names that carry file system paths (checked against the server's roots).
PATH_KEYS = frozenset({"path", "paths", "repo_path", "source", "destination", "directory", "root"})
_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class Blob:
    """Binary content a tool returned (an embedded resource, an image, audio)."""

    uri: str | None
    mime_type: str | None
    data: bytes


@dataclass(frozen=True)
class ToolReply:
    """What a tool answered: its text, its structured content, its binary parts."""

    server: str
    tool: str
    text: str
    structured: dict[str, Any] | None = None
    blobs: list[Blob] = field(default_factory=list)


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _within(path: Path, roots: list[Path]) -> bool:
    resolved = path.expanduser().resolve()
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def check_roots(server: str, arguments: Mapping[str, Any], roots: list[Path]) -> None:
    """Refuse a path-like argument (at any depth) that is outside every root."""

    def paths(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [p for item in value for p in paths(item)]
        return []

    def walk(data: Mapping[str, Any]) -> None:
        for key, value in data.items():
            if isinstance(value, Mapping):
                walk(value)
            elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                for item in value:
                    walk(item)
            elif key in PATH_KEYS:
                for raw in paths(value):
                    if not _within(Path(raw), roots):
                        raise ValidationError(
                            f"{key}={raw!r} is outside the roots of MCP server {server!r}",
                            code="PATH_OUTSIDE_ROOTS",
                            details={
                                "server": server,
                                "argument": key,
                                "roots": list(map(str, roots)),
                            },
                        )

    walk(arguments)


def _text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _blobs_of(result: types.CallToolResult) -> list[Blob]:
    blobs: list[Blob] = []
    for block in result.content:
        try:
            if isinstance(block, types.EmbeddedResource) and isinstance(
                block.resource, types.BlobResourceContents
            ):
                data = base64.b64decode(block.resource.blob, validate=True)
                blobs.append(Blob(str(block.resource.uri), block.resource.mime_type, data))
            elif isinstance(block, types.ImageContent | types.AudioContent):
                blobs.append(
                    Blob(None, block.mime_type, base64.b64decode(block.data, validate=True))
                )
        except (binascii.Error, ValueError) as exc:
            raise PermanentError(
                f"a binary part of the reply is not base64: {exc}", code="MCP_OUTPUT_INVALID"
            ) from exc
    return blobs


class McpServer:
    """An open connection to one configured server, limited to its allowlist and roots."""

    def __init__(
        self, name: str, config: McpServerConfig, client: Client, listed: dict[str, types.Tool]
    ) -> None:
        self.name = name
        self.config = config
        self._client = client
        self._listed = listed

    @property
    def tools(self) -> list[types.Tool]:
        """The allowlisted tools the server offers (what callers may see)."""
        return [self._listed[name] for name in sorted(self._listed)]

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolReply:
        """Call an allowlisted tool; a tool error raises PermanentError (MCP_TOOL_ERROR) with
        the server's text, so callers that expect one can catch it."""
        if tool not in self.config.tools:
            raise ValidationError(
                f"tool {tool!r} of MCP server {self.name!r} is not allowlisted "
                f"(allowed: {', '.join(self.config.tools)})",
                code="TOOL_NOT_ALLOWED",
                details={"server": self.name, "tool": tool},
            )
        listed = self._listed.get(tool)
        if listed is None:
            raise PermanentError(
                f"MCP server {self.name!r} does not offer the allowlisted tool {tool!r}",
                code="MCP_TOOL_MISSING",
                details={"server": self.name, "tool": tool},
            )
        check_roots(self.name, arguments, self.config.roots)
        _validate(
            listed.input_schema, arguments, f"arguments of {self.name}.{tool}", ValidationError
        )
        try:
            with anyio.fail_after(self.config.timeout_s):
                result = await self._client.call_tool(tool, arguments)
        except TimeoutError:
            raise TransientError(
                f"MCP server {self.name!r} did not answer {tool} within {self.config.timeout_s}s",
                code="MCP_TIMEOUT",
                details={"server": self.name, "tool": tool},
            ) from None
        except MCPError as exc:
            raise _protocol_error(self.name, exc, tool) from None
        except RuntimeError as exc:  # the SDK's own output-schema check
            raise PermanentError(
                f"{self.name}.{tool} broke its output schema: {exc}",
                code="MCP_OUTPUT_INVALID",
                details={"server": self.name, "tool": tool},
            ) from None
        text = _text_of(result)
        if result.is_error:
            raise PermanentError(
                f"{self.name}.{tool} failed: {text[:_TEXT_LIMIT] or 'no message'}",
                code="MCP_TOOL_ERROR",
                details={"server": self.name, "tool": tool, "text": text[:_TEXT_LIMIT]},
            )
        structured = result.structured_content
        if listed.output_schema is not None:
            _validate(
                listed.output_schema,
                structured,
                f"the reply of {self.name}.{tool}",
                PermanentError,
                code="MCP_OUTPUT_INVALID",
            )
        return ToolReply(self.name, tool, text, structured, _blobs_of(result))


def _validate(
    schema: Mapping[str, Any],
    value: Any,
    what: str,
    error: type[OperationError],
    *,
    code: str = "INVALID_INPUT",
) -> None:
    validator_cls = jsonschema.validators.validator_for(schema)
    found = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if found is not None:
        where = "/".join(map(str, found.absolute_path)) or "(top)"
        raise error(f"{what} do not match its schema at {where}: {found.message}", code=code)


def _protocol_error(server: str, exc: MCPError, tool: str | None = None) -> OperationError:
    details = {"server": server, "mcp_code": exc.code, **({"tool": tool} if tool else {})}
    if exc.code == types.REQUEST_TIMEOUT:
        return TransientError(
            f"MCP server {server!r} did not answer in time: {exc.message}",
            code="MCP_TIMEOUT",
            details=details,
        )
    if exc.code == types.INVALID_PARAMS:
        return ValidationError(
            f"MCP server {server!r}: {exc.message}", code="INVALID_INPUT", details=details
        )
    return PermanentError(
        f"MCP server {server!r} answered with error {exc.code}: {exc.message}",
        code="MCP_PROTOCOL_ERROR",
        details=details,
    )


class _HttpStatus:
    """Remembers the last HTTP status of a Streamable HTTP connection (the SDK folds a 401
    into a generic error; the status says whether retrying can help)."""

    def __init__(self) -> None:
        self.last: int | None = None

    async def __call__(self, response: httpx2.Response) -> None:
        self.last = response.status_code


def _connect_error(
    name: str, config: McpServerConfig, exc: BaseException, status: int | None
) -> OperationError:
    details = {"server": name, "transport": config.transport}
    for leaf in _leaves(exc):
        if isinstance(leaf, OperationError):
            return leaf
        if isinstance(leaf, TimeoutError):
            return TransientError(
                f"MCP server {name!r} did not start within {config.timeout_s}s",
                code="MCP_TIMEOUT",
                details=details,
            )
        if isinstance(leaf, FileNotFoundError | PermissionError):
            return PermanentError(
                f"cannot start MCP server {name!r}: {leaf}",
                code="MCP_SERVER_NOT_FOUND",
                details=details,
            )
        if isinstance(leaf, httpx2.TransportError | OSError):
            return TransientError(
                f"MCP server {name!r} is unreachable: {type(leaf).__name__}: {leaf}",
                code="MCP_UNREACHABLE",
                details=details,
            )
        if isinstance(leaf, MCPError):
            if status in (401, 403):
                return PermanentError(
                    f"MCP server {name!r} refused the credentials (HTTP {status})",
                    code="MCP_UNAUTHORIZED",
                    details={**details, "http_status": status},
                )
            if status is not None and (status == 429 or status >= 500):
                return TransientError(
                    f"MCP server {name!r} is overloaded or failing (HTTP {status})",
                    code="MCP_UNAVAILABLE",
                    details={**details, "http_status": status},
                )
            return _protocol_error(name, leaf)
    first = _leaves(exc)[0]
    return PermanentError(
        f"cannot connect to MCP server {name!r}: {type(first).__name__}: {first}",
        code="MCP_CONNECT_FAILED",
        details=details,
    )


@asynccontextmanager
async def deadline(name: str, seconds: float) -> AsyncIterator[None]:
    """Bound everything inside (connecting included) by `seconds`: MCP_TIMEOUT after that.

        async with deadline(name, config.timeout_s), connect(name, config) as server: ...

    The handshake has timeouts of its own that can be longer (the SDK probes a server's
    protocol era for up to 10 s): this is the caller's hard limit.
    """
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        raise TransientError(
            f"MCP server {name!r} did not finish within {seconds}s",
            code="MCP_TIMEOUT",
            details={"server": name},
        ) from None


@asynccontextmanager
async def connect(name: str, config: McpServerConfig) -> AsyncIterator[McpServer]:
    """Open a connection (spawning the server for stdio), list its allowlisted tools."""
    roots = [types.Root(uri=root.as_uri(), name=root.name or str(root)) for root in config.roots]

    async def list_roots(context: ClientRequestContext) -> types.ListRootsResult:
        del context
        return types.ListRootsResult(roots=roots)

    status = _HttpStatus()
    try:
        async with AsyncExitStack() as stack:
            target: StdioServerParameters | Transport
            if config.command is not None:
                target = StdioServerParameters(
                    command=config.command[0],
                    args=config.command[1:],
                    env=dict(config.env) or None,
                    cwd=config.cwd,
                )
            else:
                headers = {}
                if config.token is not None:
                    headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(
                        headers=headers,
                        timeout=httpx2.Timeout(config.timeout_s),
                        trust_env=False,
                        event_hooks={"response": [status]},
                    )
                )
                target = streamable_http_client(str(config.url), http_client=http)
            client = Client(
                target,
                read_timeout_seconds=config.timeout_s,
                # The filesystem server replaces its folders with the client's roots: give it
                # exactly the configured ones.
                list_roots_callback=list_roots if roots else None,
                client_info=types.Implementation(name="chimera", version="1"),
            )
            try:
                # Not inside a cancel scope of ours: the client's task groups outlive this
                # block. Its requests (the handshake included) time out by themselves.
                await stack.enter_async_context(client)
                with anyio.fail_after(config.timeout_s):
                    listed = await client.list_tools()
            except Exception as exc:  # classified: the caller gets one core.errors exception
                raise _connect_error(name, config, exc, status.last) from None
            allowed = {tool.name: tool for tool in listed.tools if tool.name in config.tools}
            log.debug(
                "MCP server %s: %d allowlisted tool(s) of %d", name, len(allowed), len(listed.tools)
            )
            yield McpServer(name, config, client, allowed)
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap what the body raised: hand back our own error unwrapped.
        ours = [leaf for leaf in _leaves(group) if isinstance(leaf, OperationError)]
        if ours:
            raise ours[0] from None
        raise
