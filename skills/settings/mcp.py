"""Settings of Chimera as an MCP client: which external MCP servers it may use, and how.

Variables (prefix `CHIMERA_`):
- `MCP_SERVERS`: JSON object, server name -> `McpServerConfig` (below);
- `ARCHIVE_REPO`: a Git repository folder; turns the content archive on (created when new);
- `ARCHIVE_SERVER`: the server (in `MCP_SERVERS`) to archive through; unset: the bundled
  `mcp-server-git` preset (`ARCHIVE_TOOLS`, roots = the repository);
- `FOOTAGE_ROOTS`: JSON list of folders, the footage library the generate agent may use;
- `FOOTAGE_SERVER`: the server to read footage through; unset: the bundled Filesystem server
  preset (`FOOTAGE_TOOLS`, roots = the library); `FOOTAGE_MAX_MB`: largest clip taken (200).

A server is either a command spawned over stdio or a Streamable HTTP URL, with an allowlist of
tools (nothing else is called, and nothing else is listed to callers), a timeout, and the
roots it may touch: they are given to the server as its MCP roots, and every path-like
argument (`path`, `paths`, `repo_path`, `source`, `destination`, ...) of every call must lie
inside one of them, whatever the server itself enforces. Spawned servers inherit only the
MCP SDK's short list of safe environment variables plus `env`, never Chimera's secrets.

    CHIMERA_MCP_SERVERS='{"git": {"command": ["python", "-m", "mcp_server_git",
        "--repository", "/srv/archive"], "tools": ["git_add", "git_diff_staged", "git_commit"],
        "roots": ["/srv/archive"], "timeout_s": 30}}'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import PermanentError
from core.settings import PROJECT_ROOT

#: The Node packages installed by scripts/setup.sh (`npm ci` of stack/mcp/package-lock.json).
NODE_MODULES = PROJECT_ROOT / "stack" / "mcp" / "node_modules"
FILESYSTEM_SERVER = (
    NODE_MODULES / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
)

#: What the archive needs of the Git server, and nothing more (no reset, checkout, branch).
ARCHIVE_TOOLS = ("git_add", "git_diff_staged", "git_commit")
#: What the footage source needs of the Filesystem server: reading only (no write, move, edit).
FOOTAGE_TOOLS = ("search_files", "get_file_info", "read_text_file", "read_media_file")


class McpServerConfig(BaseModel):
    """One external MCP server: how to reach it and what it may be asked to do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = Field(
        default=None, min_length=1, description="argv of a server spawned over stdio."
    )
    url: AnyHttpUrl | None = Field(default=None, description="A Streamable HTTP endpoint.")
    token: SecretStr | None = Field(default=None, description="Bearer token sent to `url`.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment of a spawned server."
    )
    cwd: Path | None = None
    tools: list[str] = Field(min_length=1, description="The tools Chimera may call (allowlist).")
    roots: list[Path] = Field(
        default_factory=list, description="Folders it may touch; path arguments must be inside."
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Per connection and call.")

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of `command` (stdio) or `url` (Streamable HTTP)")
        if self.token is not None and self.url is None:
            raise ValueError("`token` is only sent to a `url` server")
        resolved = [root.expanduser().resolve() for root in self.roots]
        object.__setattr__(self, "roots", resolved)
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "streamable-http"


class McpSettings(BaseSettings):
    """External MCP servers and the two uses that ship: the content archive and footage."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=".env", extra="ignore")

    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict)
    archive_repo: Path | None = None
    archive_server: str | None = None
    footage_roots: list[Path] = Field(default_factory=list)
    footage_server: str | None = None
    footage_max_mb: float = Field(default=200.0, gt=0)

    def server(self, name: str) -> McpServerConfig:
        """A configured server by name (PermanentError naming the known ones otherwise)."""
        if name not in self.mcp_servers:
            known = ", ".join(sorted(self.mcp_servers)) or "none"
            raise PermanentError(
                f"no MCP server {name!r} in CHIMERA_MCP_SERVERS (configured: {known})",
                code="MCP_SERVER_UNKNOWN",
            )
        return self.mcp_servers[name]

    @property
    def archive_enabled(self) -> bool:
        return self.archive_repo is not None

    def archive(self) -> tuple[str, McpServerConfig, Path]:
        """(server name, its config, repository folder) of the content archive."""
        if self.archive_repo is None:
            raise PermanentError(
                "the content archive is off (set CHIMERA_ARCHIVE_REPO)", code="ARCHIVE_OFF"
            )
        repo = self.archive_repo.expanduser().resolve()
        if self.archive_server is not None:
            config = self.server(self.archive_server)
            if not any(repo.is_relative_to(root) for root in config.roots):
                raise PermanentError(
                    f"CHIMERA_ARCHIVE_REPO {repo} is outside the roots of MCP server "
                    f"{self.archive_server!r}",
                    code="ARCHIVE_OUTSIDE_ROOTS",
                )
            return self.archive_server, config, repo
        preset = McpServerConfig(
            command=[sys.executable, "-m", "mcp_server_git", "--repository", str(repo)],
            tools=list(ARCHIVE_TOOLS),
            roots=[repo],
            timeout_s=60.0,
        )
        return "archive-git", preset, repo

    @property
    def footage_enabled(self) -> bool:
        return bool(self.footage_roots) or self.footage_server is not None

    def footage(self) -> tuple[str, McpServerConfig]:
        """(server name, its config) of the footage library; its roots are the library."""
        if self.footage_server is not None:
            return self.footage_server, self.server(self.footage_server)
        if not self.footage_roots:
            raise PermanentError(
                "no footage library (set CHIMERA_FOOTAGE_ROOTS)", code="FOOTAGE_OFF"
            )
        roots = [root.expanduser().resolve() for root in self.footage_roots]
        preset = McpServerConfig(
            command=["node", str(FILESYSTEM_SERVER), *map(str, roots)],
            tools=list(FOOTAGE_TOOLS),
            roots=roots,
            timeout_s=120.0,
        )
        return "footage-filesystem", preset
