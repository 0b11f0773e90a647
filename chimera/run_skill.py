"""Running one skill outside an agent (`chimera skill run`, scripts): its composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from core.db import create_pool, require_schema
from core.settings import Settings
from skills.base import SkillOutput, SkillSpec, invoke_json
from skills.context import ProgressSink, SkillContext, SkillPaths, no_progress
from skills.ratelimit import PgRateLimiter
from skills.settings import SkillSettings
from skills.trends.velocity import PgTrendSnapshots


@contextlib.asynccontextmanager
async def skill_context(
    settings: Settings, progress: ProgressSink = no_progress
) -> AsyncIterator[SkillContext]:
    """A context like an agent's: an HTTP client, and, when the database answers, the shared
    rate limiter and trend snapshots (skills that need no database run without it)."""
    pool: asyncpg.Pool | None = None
    try:
        pool = await create_pool(settings, max_size=2, connect_timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        pool = None
    if pool is not None:
        try:
            await require_schema(settings)  # reachable but not migrated: one line, not a trace
        except BaseException:
            await pool.close()
            raise
    try:
        ctx = SkillContext(
            http=httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)),
            paths=SkillPaths.of(settings),
            settings=SkillSettings.from_environment(),
            limiter=PgRateLimiter(pool) if pool is not None else None,
            snapshots=PgTrendSnapshots(pool) if pool is not None else None,
            progress=progress,
        )
        try:
            yield ctx
        finally:
            await ctx.aclose()
    finally:
        if pool is not None:
            await pool.close()


async def run_skill(
    settings: Settings,
    spec: SkillSpec[Any, Any],
    data: dict[str, Any],
    progress: ProgressSink = no_progress,
) -> SkillOutput:
    """Validate `data` as `spec`'s input and run it with a context built here."""
    async with skill_context(settings, progress) as ctx:
        return await invoke_json(spec, data, ctx)
