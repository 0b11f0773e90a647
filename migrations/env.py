"""Alembic environment: async, through asyncpg. The URL comes from the caller or Settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from core import grants
from core.settings import Settings

config = context.config


def _url() -> str:
    dsn = config.attributes.get("dsn") or Settings().dsn()
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
        # Least privilege after every migration: each table's grants exactly as core.grants says.
        tables = {row[0] for row in connection.exec_driver_sql(grants.TABLES_SQL)}
        grants.apply(connection.exec_driver_sql, tables)


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
