"""The publish agent's content archive: the real agent on the real broker and database,
committing through the real Git MCP server (`mcp-server-git`)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

from agents.publish.app import build
from chimera.ops.offsets import reset_to_earliest
from core.settings import Settings
from events import AuditRecorded, Topics, decode, encode
from tests.agents.publish.test_agent import FAST, make_video, request, seed_content
from tests.support import produce, read_topic, wait_for


def commits(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True
    )
    return out.stdout.splitlines() if out.returncode == 0 else []


async def archive_actions(pool: asyncpg.Pool) -> list[str]:
    """The archive's audit entries, as the outbox holds them (no audit sink runs here)."""
    rows = await pool.fetch("SELECT value FROM outbox WHERE event_type = 'AuditRecorded'")
    actions = []
    for row in rows:
        event = decode(bytes(row["value"]))
        assert isinstance(event, AuditRecorded)
        if event.payload.action.startswith("archive:"):
            actions.append(event.payload.action)
    return sorted(actions)


async def test_published_items_are_archived_once_and_a_replay_commits_nothing(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "archive"
    monkeypatch.setenv("CHIMERA_ARCHIVE_REPO", str(repo))
    topics = Topics(settings.topic_prefix)
    video = make_video(tmp_path / "c1.mp4")
    await seed_content(pool, "c1", video)
    licence = {
        "provider": "library",
        "id": "neon.mp4",
        "url": "https://x/neon.mp4",
        "licence": "CC0-1.0",
    }
    await pool.execute(
        "UPDATE content SET metadata = $1::jsonb, script = $2 WHERE id = 'c1'",
        json.dumps({"title": "Neon nights", "assets": [licence, {"provider": "half-recorded"}]}),
        json.dumps({"hook": "Neon is back.", "body": ["Here is why."], "call_to_action": "Go"}),
    )
    # Who approved it: the approval gate's review, decided by a reviewer.
    await pool.execute(
        """INSERT INTO reviews (content_id, correlation_id, platforms, title, path, status,
                                decided_by, decided_at, reason)
           VALUES ('c1', $1, '{local}', 'Neon nights', $2, 'approved', 'maria',
                   '2026-12-01T10:00:00Z', 'on brand')""",
        uuid.uuid4(),
        str(video),
    )

    async with build(settings, FAST).running():
        await produce(
            settings,
            topics.publish_requests,
            [(b"c1", encode(request("c1", video)))],
        )

        async def archived() -> bool:
            return await archive_actions(pool) == ["archive:committed"]

        await wait_for(archived, timeout=90, what="the published item in the archive")

    assert commits(repo) == ["c1: Neon nights"]
    body = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%B"], capture_output=True, text=True
    ).stdout
    assert "Approved-by: maria" in body and "Published-on: local file://" in body
    assert json.loads((repo / "c1" / "licences.json").read_text()) == [
        {**licence, "author": None, "author_url": None, "licence_url": None}
    ]
    assert "Neon is back." in (repo / "c1" / "README.md").read_text()

    # A replay that even forgot what it did (its inbox rows gone): the skill runs again and
    # finds the archive holds this state already. Nothing is committed, nothing published.
    runtime = build(settings, FAST)
    await reset_to_earliest(
        settings, runtime.group, [topics.publish_requests, topics.publish_events]
    )
    await pool.execute("DELETE FROM inbox WHERE consumer = 'publish.archive'")
    async with runtime.running():

        async def replayed() -> bool:
            return await archive_actions(pool) == ["archive:committed", "archive:unchanged"]

        await wait_for(replayed, timeout=90, what="the replayed Published event")
    assert commits(repo) == ["c1: Neon nights"]
    assert await pool.fetchval("SELECT count(*) FROM publications") == 1
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout == ""


async def test_an_archive_that_cannot_be_reached_dead_letters_the_event(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "archive"
    broken = {
        "git": {
            "command": [str(tmp_path / "no-git-server")],
            "tools": ["git_add", "git_diff_staged", "git_commit"],
            "roots": [str(repo)],
        }
    }
    monkeypatch.setenv("CHIMERA_MCP_SERVERS", json.dumps(broken))
    monkeypatch.setenv("CHIMERA_ARCHIVE_SERVER", "git")
    monkeypatch.setenv("CHIMERA_ARCHIVE_REPO", str(repo))
    topics = Topics(settings.topic_prefix)
    video = make_video(tmp_path / "c2.mp4")
    await seed_content(pool, "c2", video)
    async with build(settings, FAST).running():
        await produce(
            settings,
            topics.publish_requests,
            [(b"c2", encode(request("c2", video)))],
        )
        letters = await read_topic(
            settings, Topics.dlq(topics.publish_events), expect=1, timeout=60
        )
    (letter,) = letters
    headers = dict(letter.headers)
    assert headers["chimera.dlq.error.code"] == b"MCP_SERVER_NOT_FOUND"
    assert decode(letter.value).event_type == "Published"  # kept whole, to be redriven
    assert await pool.fetchval("SELECT status FROM publications") == "published"
