"""Chimera as an MCP server for assistants (`chimera mcp serve`): tools, resources, prompts.

See `server` for the composition and the transports, `tools` and `pipeline` for the tools,
`resources` for the `chimera://` URIs and prompts, `caller` and `audit` for who may do what
and how every call is recorded.
"""
