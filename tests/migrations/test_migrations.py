"""Migrations on a real PostgreSQL: upgrade, downgrade, upgrade gives the same schema."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core import db

SCHEMA_QUERY = """
SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type || ' '
       || is_nullable || ' ' || coalesce(column_default, '') AS what
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2
"""

SPEC_TABLES = {"trends", "content", "publications", "engagement", "audit_logs"}


async def schema(dsn: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [(r["kind"], r["what"]) for r in await conn.fetch(SCHEMA_QUERY)]
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade_gives_the_same_schema(database_url: str) -> None:
    migrated = await schema(database_url)
    assert await db.current_revision(database_url) == db.head_revision()

    await asyncio.to_thread(db.downgrade, database_url, "base")
    emptied = await schema(database_url)
    assert [w for k, w in emptied if k == "column" and not w.startswith("alembic_version")] == []

    await asyncio.to_thread(db.upgrade, database_url)
    assert await schema(database_url) == migrated


async def test_first_revision_has_the_spec_tables_indexes_and_checks(database_url: str) -> None:
    await asyncio.to_thread(db.downgrade, database_url, "base")
    await asyncio.to_thread(db.upgrade, database_url, "0001")
    conn = await asyncpg.connect(database_url)
    try:
        tables = {
            r[0]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert tables >= SPEC_TABLES
        indexes = {
            r[0]
            for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname='public'")
        }
        assert {
            "idx_platform_fetched",
            "idx_velocity",
            "idx_topic",
            "idx_status",
            "idx_trend_id",
            "idx_created_at",
            "idx_platform_status",
            "idx_content_id",
            "idx_published_at",
            "idx_publication_id",
            "idx_recorded_at",
            "idx_agent_id",
            "idx_timestamp",
            "idx_skill_name",
        } <= indexes
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO content (id, type, status) VALUES ('c', 'video', 'x')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO content (id, type, status) VALUES ('c','gif','draft')")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO content (id, type, status, trend_id) "
                "VALUES ('c', 'video', 'draft', 'no')"
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO audit_logs (id, agent_id, action, status) VALUES ('a','x','y','ok')"
            )
    finally:
        await conn.close()
    await asyncio.to_thread(db.upgrade, database_url)
