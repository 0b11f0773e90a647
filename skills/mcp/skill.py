"""`skill_mcp_call_tool`: one allowlisted tool of one configured external MCP server.

Run like every skill (`invoke`): a transient failure (timeout, unreachable or overloaded
server) is retried by the `RetryPolicy`, every call is observed (agents audit it), and the
output carries errors in the specification's format. The arguments are checked against the
tool's input schema and its roots before the server sees them, its structured reply against
its output schema after.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue

from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext
from skills.mcp.client import connect, deadline


class McpCallInput(SkillInput):
    """Which server, which tool, with what arguments."""

    server: str = Field(min_length=1, max_length=100, description="A name in CHIMERA_MCP_SERVERS.")
    tool: str = Field(min_length=1, max_length=200, description="An allowlisted tool of it.")
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


class McpBinary(BaseModel):
    """A binary part of the reply, described (its bytes are not carried in the output)."""

    uri: str | None = None
    mime_type: str | None = None
    size: int = 0


class McpCallOutput(SkillOutput):
    """The tool's reply: its text, its structured content, its binary parts (described)."""

    server: str = ""
    tool: str = ""
    text: str = ""
    structured: dict[str, JsonValue] | None = None
    binaries: list[McpBinary] = Field(default_factory=list)


@skill("skill_mcp_call_tool")
async def mcp_call_tool(data: McpCallInput, ctx: SkillContext) -> McpCallOutput:
    """Call an allowlisted tool of an external MCP server configured in CHIMERA_MCP_SERVERS.

    A tool that is not on the server's allowlist, a path argument outside its roots, or
    arguments that break its input schema are refused before the call; a tool error is a
    permanent failure (MCP_TOOL_ERROR) with the server's message.
    """
    config = ctx.settings.mcp.server(data.server)
    async with deadline(data.server, config.timeout_s), connect(data.server, config) as server:
        reply = await server.call(data.tool, dict(data.arguments))
    return McpCallOutput(
        success=True,
        server=data.server,
        tool=data.tool,
        text=reply.text,
        structured=reply.structured,
        binaries=[
            McpBinary(uri=b.uri, mime_type=b.mime_type, size=len(b.data)) for b in reply.blobs
        ],
    )
