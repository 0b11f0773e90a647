"""The content archive: what went out, committed to Git through the Git MCP server."""
