"""Chimera as an MCP client: external MCP servers' allowlisted tools, callable as skills.

`client.connect` opens one configured server within its limits (allowlist, roots, timeout,
schemas); `skill_mcp_call_tool` calls one tool as a skill (retries, audit, errors in the
specification's format). Built on it: `skills.archive` (the Git MCP server) and
`skills.media.footage.filesystem` (the Filesystem MCP server). Servers are configured in
`skills.settings.mcp` (CHIMERA_MCP_SERVERS).
"""
