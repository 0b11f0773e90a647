"""PostgreSQL least privilege: every table has a grant decision, and a role is refused on
another agent's table (on the real server, through the migrated schema's grants)."""

from __future__ import annotations

import asyncpg
import pytest

from chimera.access import PRINCIPALS
from core import grants
from core.credentials import pg_role


async def tables(pool: asyncpg.Pool) -> set[str]:
    return {r["tablename"] for r in await pool.fetch(grants.TABLES_SQL)}


async def test_every_table_has_a_grant_decision(pool: asyncpg.Pool) -> None:
    existing = await tables(pool)
    undecided = existing - set(grants.GRANTS)
    assert not undecided, (
        f"tables without a grant decision in core/grants.py: {sorted(undecided)}; "
        "say which roles may do what on them (an empty dict: the owner only)"
    )
    stale = set(grants.GRANTS) - existing
    assert not stale, f"core/grants.py names tables that no migration creates: {sorted(stale)}"


def test_the_matrix_names_known_principals_only() -> None:
    named = {p for table in grants.GRANTS.values() for p in table}
    assert named <= set(PRINCIPALS)


async def _as(pool: asyncpg.Pool, principal: str, sql: str) -> object:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f'SET LOCAL ROLE "{pg_role(principal)}"')
        return await conn.fetchval(sql)


@pytest.mark.parametrize(
    ("principal", "sql"),
    [
        ("publish", "SELECT count(*) FROM audit_logs"),
        ("publish", "SELECT count(*) FROM workflows"),
        (
            "publish",
            "INSERT INTO trends (id, platform, topic, title, engagement_metrics, "
            "velocity, fetched_at, url) VALUES ('x', 'p', 't', 't', '{}', 0, now(), 'u')",
        ),
        ("audit", "SELECT count(*) FROM publications"),
        ("audit", "SELECT count(*) FROM platform_accounts"),
        ("audit", "DELETE FROM audit_logs"),
        ("research", "SELECT count(*) FROM platform_accounts"),
        ("generate", "SELECT count(*) FROM trends"),
        ("orchestrator", "UPDATE publications SET status = 'published'"),
        ("orchestrator", "SELECT count(*) FROM console_sessions"),
        ("generate", "SELECT count(*) FROM reviews"),
        ("publish", "INSERT INTO alert_acknowledgements DEFAULT VALUES"),
        ("operator", "DELETE FROM audit_logs"),
        ("operator", "UPDATE reviews SET status = 'approved'"),
        ("publish", "SELECT count(*) FROM users"),
        ("audit", "SELECT count(*) FROM api_tokens"),
        ("research", "DELETE FROM users"),
    ],
)
async def test_a_role_is_refused_on_another_agents_table(
    pool: asyncpg.Pool, principal: str, sql: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await _as(pool, principal, sql)


async def test_each_role_reaches_its_own_tables(pool: asyncpg.Pool) -> None:
    assert await _as(pool, "audit", "SELECT count(*) FROM audit_logs") == 0
    assert await _as(pool, "publish", "SELECT count(*) FROM publications") == 0
    assert await _as(pool, "orchestrator", "SELECT count(*) FROM workflows") == 0
    assert await _as(pool, "operator", "SELECT count(*) FROM audit_logs") == 0
    assert await _as(pool, "research", "SELECT count(*) FROM trend_snapshots") == 0
