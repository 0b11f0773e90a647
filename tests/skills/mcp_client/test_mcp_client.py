"""Chimera as an MCP client, against the real reference servers installed from the registries:
`mcp-server-git` (PyPI) for the content archive, `@modelcontextprotocol/server-filesystem`
(npm, run with Node) for the footage library. No stubs: every call crosses a real stdio pipe.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.retry import RetryPolicy
from skills.archive.skill import ArchiveContentInput, archive_content
from skills.base import invoke
from skills.context import SkillContext, SkillPaths
from skills.mcp.client import connect
from skills.mcp.skill import McpCallInput, mcp_call_tool
from skills.media.footage.filesystem import FindFootageInput, find_footage
from skills.settings import SkillSettings
from skills.settings.mcp import FILESYSTEM_SERVER, McpServerConfig, McpSettings
from tests.skills.media.support import make_clip


@pytest.fixture(autouse=True)
def node_packages() -> None:
    assert FILESYSTEM_SERVER.is_file(), "run scripts/setup.sh: it installs stack/mcp (npm ci)"


def mcp_settings(**values: Any) -> McpSettings:
    return McpSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[Any]:
    async with httpx.AsyncClient() as http:

        def make(settings: McpSettings) -> SkillContext:
            return SkillContext(
                http=http,
                paths=SkillPaths(tmp_path / "state", tmp_path / "media"),
                settings=SkillSettings(mcp=settings),
                retry=RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0),
            )

        yield make


def git_log(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%H %s"], capture_output=True, text=True
    )
    return out.stdout.splitlines() if out.returncode == 0 else []


def archive_input(content_id: str = "c-1", **overrides: Any) -> ArchiveContentInput:
    values: dict[str, Any] = {
        "content_id": content_id,
        "title": "Synthwave in 60 seconds",
        "script": {"hook": "Synthwave is back.", "body": ["Here is why."], "call_to_action": "Go."},
        "metadata": {"duration": 20.0, "sha256": "ab" * 32},
        "trend": {"id": "feed:1", "title": "Synthwave", "url": "https://example.org/1"},
        "licences": [
            {
                "provider": "library",
                "id": "neon.mp4",
                "url": "file:///lib/neon.mp4",
                "licence": "CC0-1.0",
            },
        ],
        "publications": [
            {
                "publication_id": f"p-{content_id}-local",
                "platform": "local",
                "url": f"file:///pub/index.html#{content_id}",
                "published_at": "2026-12-01T12:00:00+00:00",
            }
        ],
        "approvals": [{"actor": "maria", "decided_at": "2026-12-01T11:59:00+00:00"}],
    }
    values.update(overrides)
    return ArchiveContentInput.model_validate(values)


async def test_archive_commits_once_per_new_state_through_the_git_server(
    context: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "archive"
    ctx = context(mcp_settings(archive_repo=repo))

    first = await invoke(archive_content, archive_input(), ctx)
    assert first.success, first.error
    assert first.committed and first.commit is not None
    log = git_log(repo)
    assert [line.split(" ", 1)[0] for line in log] == [first.commit]
    assert log[0].endswith("c-1: Synthwave in 60 seconds")
    readme = (repo / "c-1" / "README.md").read_text()
    assert "maria" in readme and "file:///pub/index.html#c-1" in readme and "CC0-1.0" in readme
    body = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%B"], capture_output=True, text=True
    ).stdout
    assert "Approved-by: maria" in body

    # The same state again (a replay): nothing staged, nothing committed.
    again = await invoke(archive_content, archive_input(), ctx)
    assert again.success and not again.committed and again.commit is None
    assert len(git_log(repo)) == 1

    # A new fact (a second platform) is one more commit; another item is its own commit.
    youtube = (
        archive_input()
        .publications[0]
        .model_copy(
            update={"publication_id": "p-c-1-youtube", "platform": "youtube", "url": "https://y/1"}
        )
    )
    second_platform = [*archive_input().publications, youtube]
    more = await invoke(archive_content, archive_input(publications=second_platform), ctx)
    other = await invoke(archive_content, archive_input("c-2"), ctx)
    assert more.committed and other.committed
    assert len(git_log(repo)) == 3
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout == ""  # everything written is committed


async def test_changes_left_staged_by_a_crash_get_their_commit(
    context: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "archive"
    ctx = context(mcp_settings(archive_repo=repo))
    assert (await invoke(archive_content, archive_input(), ctx)).committed
    # A run that died between git_add and git_commit: the files are written and staged.
    (repo / "c-9").mkdir()
    (repo / "c-9" / "README.md").write_text("# half done\n")
    subprocess.run(["git", "-C", str(repo), "add", "c-9"], check=True)
    done = await invoke(archive_content, archive_input("c-9"), ctx)
    assert done.committed
    assert len(git_log(repo)) == 2


async def test_only_allowlisted_tools_are_listed_and_called(context: Any, tmp_path: Path) -> None:
    repo = tmp_path / "archive"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    git = McpServerConfig(
        command=[sys.executable, "-m", "mcp_server_git", "--repository", str(repo)],
        tools=["git_status", "git_log"],
        roots=[repo],
        timeout_s=30,
    )
    async with connect("git", git) as server:
        assert [t.name for t in server.tools] == ["git_log", "git_status"]
        status = await server.call("git_status", {"repo_path": str(repo)})
        assert "On branch" in status.text

    ctx = context(mcp_settings(mcp_servers={"git": git}))
    refused = await invoke(
        mcp_call_tool, McpCallInput(server="git", tool="git_reset", arguments={}), ctx
    )
    assert not refused.success and refused.error is not None
    assert refused.error.code == "TOOL_NOT_ALLOWED" and refused.error.category == "validation"

    outside = await invoke(
        mcp_call_tool,
        McpCallInput(server="git", tool="git_status", arguments={"repo_path": str(tmp_path)}),
        ctx,
    )
    assert outside.error is not None and outside.error.code == "PATH_OUTSIDE_ROOTS"

    bad_args = await invoke(
        mcp_call_tool, McpCallInput(server="git", tool="git_log", arguments={"max_count": 2}), ctx
    )
    assert bad_args.error is not None and bad_args.error.code == "INVALID_INPUT"

    ok = await invoke(
        mcp_call_tool,
        McpCallInput(server="git", tool="git_status", arguments={"repo_path": str(repo)}),
        ctx,
    )
    assert ok.success and ok.server == "git" and "On branch" in ok.text


async def test_failures_follow_the_retry_taxonomy(context: Any, tmp_path: Path) -> None:
    silent = McpServerConfig(
        command=[sys.executable, "-c", "import time; time.sleep(60)"], tools=["x"], timeout_s=0.5
    )
    missing = McpServerConfig(command=[str(tmp_path / "no-such-server")], tools=["x"])
    ctx = context(mcp_settings(mcp_servers={"silent": silent, "missing": missing}))

    began = time.monotonic()
    timed_out = await invoke(mcp_call_tool, McpCallInput(server="silent", tool="x"), ctx)
    assert timed_out.error is not None
    assert timed_out.error.code == "MCP_TIMEOUT" and timed_out.error.retryable
    assert timed_out.error.details["attempts"] == 4  # the first try and 3 retries
    assert time.monotonic() - began < 40  # 4 x (0.5 s + stopping the server)

    not_found = await invoke(mcp_call_tool, McpCallInput(server="missing", tool="x"), ctx)
    assert not_found.error is not None
    assert not_found.error.code == "MCP_SERVER_NOT_FOUND"
    assert not_found.error.category == "permanent" and not not_found.error.retryable

    unknown = await invoke(mcp_call_tool, McpCallInput(server="nope", tool="x"), ctx)
    assert unknown.error is not None and unknown.error.code == "MCP_SERVER_UNKNOWN"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "city").mkdir(parents=True)
    make_clip(root / "city" / "neon-synthwave-night.mp4", seconds=1.0, size="64x64")
    make_clip(root / "beach-waves.mp4", seconds=1.0, size="64x64")
    make_clip(root / "synthwave-unlicensed.mp4", seconds=1.0, size="64x64")
    for clip, licence in (
        ("city/neon-synthwave-night.mp4", "CC0-1.0"),
        ("beach-waves.mp4", "CC-BY-4.0"),
    ):
        (root / f"{clip}.json").write_text(
            json.dumps({"licence": licence, "author": "A. Filmer", "source": f"https://x/{clip}"})
        )
    return root


async def test_footage_comes_from_the_filesystem_server_with_its_licence(
    context: Any, library: Path, tmp_path: Path
) -> None:
    ctx = context(mcp_settings(footage_roots=[library]))
    found = await invoke(
        find_footage, FindFootageInput(words=["synthwave", "neon"], seed="c-1"), ctx
    )
    assert found.success, found.error
    assert found.candidates == 3
    # The unlicensed clip matches the words too, but a clip without a licence is never used.
    assert found.source == (library / "city" / "neon-synthwave-night.mp4").as_uri()
    assert found.licence is not None and found.licence.licence == "CC0-1.0"
    assert found.path is not None and Path(found.path).is_relative_to(tmp_path / "media")
    original = (library / "city" / "neon-synthwave-night.mp4").read_bytes()
    assert Path(found.path).read_bytes() == original

    # Same request, same clip (deterministic); no licensed clip matches: the best licensed one.
    again = await invoke(find_footage, FindFootageInput(words=["synthwave"], seed="c-1"), ctx)
    assert again.source == found.source
    other = await invoke(find_footage, FindFootageInput(words=["beach"], seed="c-2"), ctx)
    assert other.source == (library / "beach-waves.mp4").as_uri()


async def test_the_filesystem_server_stays_inside_its_roots(
    context: Any, library: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the footage source")
    (library / "escape").symlink_to(tmp_path)  # a link out of the library
    fs = McpServerConfig(
        command=["node", str(FILESYSTEM_SERVER), str(library)],
        tools=["read_text_file", "list_allowed_directories"],
        roots=[library],
    )
    ctx = context(mcp_settings(mcp_servers={"fs": fs}))
    for path in (
        str(secret),
        str(library / "escape" / "secret.txt"),
        str(library / ".." / "secret.txt"),
    ):
        refused = await invoke(
            mcp_call_tool,
            McpCallInput(server="fs", tool="read_text_file", arguments={"path": path}),
            ctx,
        )
        assert refused.error is not None and refused.error.code == "PATH_OUTSIDE_ROOTS", path

    async with connect("fs", fs) as server:
        allowed = await server.call("list_allowed_directories", {})
        assert str(library.resolve()) in allowed.text
        assert str(tmp_path.resolve()) + "\n" not in allowed.text + "\n"
        # Even past Chimera's own check, the server refuses what is outside its roots.
        server.config.roots.append(tmp_path.resolve())
        with pytest.raises(Exception, match=r"outside allowed directories|Access denied"):
            await server.call("read_text_file", {"path": str(secret)})
