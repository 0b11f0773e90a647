"""Database access shared by the CLI, the agents and the tests: pools, migrations, the schema
check that every command and agent makes before it touches a table."""

from __future__ import annotations

import asyncpg
import asyncpg.pool
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from core.errors import ConfigError
from core.settings import PROJECT_ROOT, Settings

# A connection from `connect()` or from a pool: handlers accept either.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
# Anything that runs a single statement: a connection, or a pool (one connection per call).
Executor = Conn | asyncpg.Pool

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(dsn: str) -> Config:
    """Alembic configured in code: the URL is handed over, never written to a file."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["dsn"] = dsn
    return config


def upgrade(dsn: str, revision: str = "head") -> None:
    """Migrate up to `revision`. Blocking: call it off the event loop (asyncio.to_thread)."""
    command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str) -> None:
    command.downgrade(alembic_config(dsn), revision)


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


async def current_revision(dsn: str) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        return await conn.fetchval("SELECT version_num FROM alembic_version") if exists else None
    finally:
        await conn.close()


async def require_schema(settings: Settings) -> None:
    """Raise a one-line ConfigError naming `chimera migrate` unless the database is at head.

    Also when the server cannot be reached (with the reason), so no command ever starts on a
    database it cannot use and fails later with a driver traceback.
    """
    try:
        revision = await current_revision(settings.dsn())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConfigError(
            f"cannot reach the database {settings.redacted_dsn()}: "
            f"{type(exc).__name__}: {exc}".rstrip(": ")
        ) from exc
    head = head_revision()
    if revision != head:
        state = "not migrated" if revision is None else f"at revision {revision}, not {head}"
        raise ConfigError(f"database {settings.redacted_dsn()} is {state}: run `chimera migrate`")


async def create_pool(
    settings: Settings, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 60.0
) -> asyncpg.Pool:
    """A connection pool; build it in a lifespan or composition root, close it there too."""
    pool = await asyncpg.create_pool(
        settings.dsn(), min_size=min_size, max_size=max_size, timeout=connect_timeout
    )
    assert pool is not None
    return pool
