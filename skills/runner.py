"""Running one skill outside an agent (the `chimera skill run` command, scripts)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from chimera.settings import Settings
from skills import skill_settings
from skills.base import SkillContext, SkillOutput, SkillSpec, invoke
from skills.ratelimit import PgRateLimiter


async def run_skill(settings: Settings, spec: SkillSpec[Any, Any], data: Any) -> SkillOutput:
    """Invoke `spec` with a context built here: HTTP client, and the database when reachable
    (rate limits and trend snapshots are shared with the agents through it)."""
    pool = None
    try:
        pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=2, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        pool = None  # skills that need no database still run
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
            ctx = SkillContext(settings=settings, http=http, pool=pool,
                               limiter=PgRateLimiter(pool) if pool else None,
                               extras=skill_settings())
            return await invoke(spec, data, ctx)
    finally:
        if pool is not None:
            await pool.close()
