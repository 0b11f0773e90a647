"""Chimera: an autonomous content pipeline run as event-driven agents over Apache Kafka."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed Chimera version (the CLI's --version, the MCP server's serverInfo)."""
    try:
        return version("chimera")
    except PackageNotFoundError:
        return "0+unknown (not installed)"
