"""`skill_archive_content`: what went out, committed to a Git repository through the Git MCP
server (`mcp-server-git`), for a reviewable history of every publication.

Per content item the archive holds a folder `<content id>/` with
- `README.md`: title, the script, where it was published, who approved it, the assets used;
- `metadata.json`: the content's metadata and its trend;
- `licences.json`: the rights ledger, every asset (footage, reference video, ...) with its
  origin and licence (`AssetRights`);
- `publications.json`: every publication with its platform, link and time.
The files are written by Chimera into the repository's working tree (it owns that folder);
staging and committing go through the Git MCP server, with its allowlist limited to
`git_add`, `git_diff_staged` and `git_commit` (`skills.settings.mcp.ARCHIVE_TOOLS`).

Idempotent: the files are a pure function of the input (sorted, no clock), so archiving the
same state again stages nothing and commits nothing (`committed=False`); a replay of every
Published event leaves the history as it was. A new fact (a second platform's link) is one new
commit. The Git MCP server has no `init` tool, so a missing repository is created here once
(`git init`, with a committer identity of its own) before the server is started on it.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from core.errors import PermanentError
from skills.base import SkillInput, SkillOutput, skill
from skills.context import SkillContext
from skills.files import write_text_atomic
from skills.mcp.client import McpServer, connect, deadline
from skills.media.footage.models import AssetRights

FILES = ("README.md", "metadata.json", "licences.json", "publications.json")
COMMITTER = ("Chimera archive", "archive@chimera.invalid")
_COMMIT_HASH = re.compile(r"\b([0-9a-f]{40})\b")
_NOTHING_STAGED = "Staged changes:"


class ArchivedPublication(BaseModel):
    """Where the content went live."""

    model_config = ConfigDict(extra="forbid")

    publication_id: str
    platform: str
    url: str
    post_id: str | None = None
    published_at: str = Field(description="ISO 8601.")


class Approval(BaseModel):
    """A decision to publish, as the approval gate's review records it."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1, max_length=64)
    decided_at: str | None = None
    reason: str = ""
    recorded_by: str = Field(default="review", description="review (a person) | expiry")


class ArchiveContentInput(SkillInput):
    """Everything the archive records about one published content item."""

    content_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
    title: str = Field(max_length=500)
    script: JsonValue = Field(default=None, description="The script (JSON) or its text.")
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    trend: dict[str, JsonValue] | None = None
    licences: list[AssetRights] = Field(
        default_factory=list, description="The rights ledger: every asset the video is made of."
    )
    publications: list[ArchivedPublication] = Field(min_length=1)
    approvals: list[Approval] = Field(default_factory=list)


class ArchiveContentOutput(SkillOutput):
    """Whether a commit was made (False: the archive held this state already)."""

    committed: bool = False
    commit: str | None = None
    repository: str | None = None
    files: list[str] = Field(default_factory=list)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _script_lines(script: JsonValue) -> list[str]:
    if isinstance(script, str):
        return [script]
    if isinstance(script, dict):
        parts: list[str] = []
        for key in ("hook", "body", "call_to_action"):
            value = script.get(key)
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif value:
                parts.append(str(value))
        return parts or [_json(script)]
    return [] if script is None else [_json(script)]


def render(data: ArchiveContentInput) -> dict[str, str]:
    """The archive's files for one content item (deterministic: same input, same bytes)."""
    publications = sorted(data.publications, key=lambda p: (p.platform, p.publication_id))
    approvals = sorted(data.approvals, key=lambda a: (a.decided_at or "", a.actor))
    licences = sorted(data.licences, key=lambda a: (a.provider, a.id))
    lines = [f"# {data.title}", "", f"Content `{data.content_id}`", ""]
    if data.trend:
        lines += [f"Trend: {data.trend.get('title', '')} ({data.trend.get('url', '')})", ""]
    lines += ["## Script", "", *_script_lines(data.script), "", "## Published", ""]
    lines += [f"- {p.platform}: {p.url} ({p.published_at})" for p in publications]
    lines += ["", "## Approved by", ""]
    lines += [
        f"- {a.actor}"
        + (f" at {a.decided_at}" if a.decided_at else "")
        + (f": {a.reason}" if a.reason else "")
        for a in approvals
    ] or ["- nobody: published without a review (the policy did not ask for one)"]
    lines += ["", "## Assets", ""]
    lines += [
        f"- {a.provider} `{a.id}`: licence {a.licence}"
        + (f", by {a.author}" if a.author else "")
        + (f" ({a.url})" if a.url else "")
        for a in licences
    ] or ["- no third-party assets recorded"]
    return {
        "README.md": "\n".join(lines) + "\n",
        "metadata.json": _json(
            {
                "content_id": data.content_id,
                "title": data.title,
                "metadata": data.metadata,
                "trend": data.trend,
            }
        ),
        "licences.json": _json([a.model_dump(mode="json") for a in licences]),
        "publications.json": _json(
            {
                "publications": [p.model_dump(mode="json") for p in publications],
                "approvals": [a.model_dump(mode="json") for a in approvals],
            }
        ),
    }


def commit_message(data: ArchiveContentInput) -> str:
    platforms = ", ".join(sorted({p.platform for p in data.publications}))
    actors = ", ".join(sorted({a.actor for a in data.approvals})) or "nobody (no review asked)"
    links = "\n".join(f"Published-on: {p.platform} {p.url}" for p in data.publications)
    subject = f"{data.content_id}: {data.title[:72]}"
    return f"{subject}\n\nPlatforms: {platforms}\n{links}\nApproved-by: {actors}\n"


async def _git(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "git", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise PermanentError(
            f"git {' '.join(args)} failed: {err.decode(errors='replace').strip()[:500]}",
            code="ARCHIVE_INIT_FAILED",
        )


async def ensure_repository(repo: Path) -> None:
    """Create the archive repository once (the Git MCP server cannot `init`)."""
    if (repo / ".git").exists():
        return
    repo.mkdir(parents=True, exist_ok=True)
    await _git("init", "-q", str(repo))
    await _git("-C", str(repo), "config", "user.name", COMMITTER[0])
    await _git("-C", str(repo), "config", "user.email", COMMITTER[1])
    await _git("-C", str(repo), "config", "commit.gpgsign", "false")


async def _commit(git: McpServer, repo: Path, files: list[str], message: str) -> str | None:
    """Stage `files`; commit when anything is staged. The commit hash, or None."""
    await git.call("git_add", {"repo_path": str(repo), "files": files})
    # Asked of the index, not of git_add's reply: a run that died between staging and
    # committing left its changes staged, and they still need their commit.
    staged = await git.call("git_diff_staged", {"repo_path": str(repo)})
    if staged.text.strip() == _NOTHING_STAGED:
        return None
    reply = await git.call("git_commit", {"repo_path": str(repo), "message": message})
    found = _COMMIT_HASH.search(reply.text)
    if found is None:
        raise PermanentError(
            f"git_commit answered without a commit hash: {reply.text[:200]!r}",
            code="MCP_OUTPUT_INVALID",
        )
    return found.group(1)


@skill("skill_archive_content")
async def archive_content(data: ArchiveContentInput, ctx: SkillContext) -> ArchiveContentOutput:
    """Commit a published item's script, metadata, asset licences and links to the archive.

    Through the Git MCP server (CHIMERA_ARCHIVE_REPO; CHIMERA_ARCHIVE_SERVER to use another
    configured server). Archiving a state the archive holds already commits nothing.
    """
    name, config, repo = ctx.settings.mcp.archive()
    await ensure_repository(repo)
    folder = repo / data.content_id
    files = []
    for file_name, text in render(data).items():
        path = folder / file_name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_text_atomic(path, text)
        files.append(f"{data.content_id}/{file_name}")
    async with deadline(name, config.timeout_s), connect(name, config) as git:
        commit = await _commit(git, repo, files, commit_message(data))
    return ArchiveContentOutput(
        success=True, committed=commit is not None, commit=commit, repository=str(repo), files=files
    )
