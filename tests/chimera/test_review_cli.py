"""`chimera review` as a person runs it (a real process), against a running orchestrator."""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg

from chimera.auth import users
from core.credentials import process_env
from core.settings import Settings
from tests.agents.orchestrator.test_approval import GATED, agents, hold_one, video_file

CHIMERA = str(Path(sys.executable).with_name("chimera"))


async def chimera(settings: Settings, *args: str) -> tuple[int, str]:
    env = {**os.environ, **process_env(settings)}  # the CLI picks the operator principal
    env.pop("CHIMERA_REVIEW_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        CHIMERA,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_review_from_the_terminal(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await users.add_user(pool, "rita", "reviewer", "correct horse battery")
    await users.add_user(pool, "vic", "viewer", "correct horse battery")
    async with AsyncExitStack() as stack:
        for runtime in agents(settings, GATED):
            await stack.enter_async_context(runtime.running())
        content_id = await hold_one(settings, pool, 5, video_file(tmp_path))

        code, out = await chimera(settings, "review", "list")
        assert code == 0 and content_id in out and "Generated title 5" in out

        code, out = await chimera(settings, "review", "approve", content_id, "--as", "vic")
        assert code == 1
        assert out.strip() == (
            "error: user 'vic' is a viewer; approving and rejecting needs the reviewer role "
            "or above"
        )
        code, out = await chimera(settings, "review", "approve", content_id, "--as", "nobody")
        assert code == 1 and "error: no user 'nobody'" in out
        code, out = await chimera(settings, "review", "approve", content_id)
        assert code == 1 and "say who decides" in out
        code, out = await chimera(
            settings, "review", "approve", content_id, "--as", "rita", "--schedule", "soon"
        )
        assert code == 1 and "invalid edits: scheduled_at" in out and "Traceback" not in out

        code, out = await chimera(
            settings,
            "review",
            "approve",
            content_id,
            "--as",
            "rita",
            "--title",
            "From the terminal",
            "--tag",
            "cli",
        )
        assert code == 0, out
        assert out.strip() == f"approved {content_id}: approved by rita"

        # The state is checked before sending: a second decision is one clear line.
        code, out = await chimera(
            settings, "review", "reject", content_id, "--as", "rita", "--reason", "no"
        )
        assert code == 1 and f"error: content {content_id} was already approved by rita" in out

        code, out = await chimera(settings, "review", "show", content_id)
        assert code == 0 and "review    approved by rita" in out
        assert "title     Generated title 5" in out  # what was held; the edit is on the post
    title = await pool.fetchval("SELECT title FROM publications WHERE content_id = $1", content_id)
    assert title == "From the terminal"
