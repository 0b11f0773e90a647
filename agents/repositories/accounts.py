"""The `platform_accounts` table: connected accounts, their sealed tokens and status; and the
publications that wait for an account (`paused`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from core.crypto import Sealed
from core.db import Conn, Executor

COLUMNS = "id, platform, name, external_id, display_name, scopes, status, key_id, " + (
    "access_expires_at, refresh_expires_at, last_refresh_at, last_error, created_at, updated_at"
)


def account_id(platform: str, name: str) -> str:
    return f"{platform}:{name}"


def sealed(row: asyncpg.Record) -> Sealed:
    return Sealed(row["key_id"], row["wrapped_key"], row["nonce"], row["ciphertext"])


async def upsert(
    conn: Conn,
    *,
    platform: str,
    name: str,
    external_id: str,
    display_name: str,
    scopes: list[str],
    secret: Sealed,
    access_expires_at: datetime | None,
    refresh_expires_at: datetime | None,
) -> str:
    """Store a (re)connected account; a reconnect of the same channel keeps its name."""
    row = await conn.fetchrow(
        """INSERT INTO platform_accounts (id, platform, name, external_id, display_name, scopes,
               status, key_id, wrapped_key, nonce, ciphertext, access_expires_at,
               refresh_expires_at, last_refresh_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10, $11, $12, now())
           ON CONFLICT (platform, external_id) DO UPDATE SET display_name = EXCLUDED.display_name,
               scopes = EXCLUDED.scopes, status = 'active', key_id = EXCLUDED.key_id,
               wrapped_key = EXCLUDED.wrapped_key, nonce = EXCLUDED.nonce,
               ciphertext = EXCLUDED.ciphertext, access_expires_at = EXCLUDED.access_expires_at,
               refresh_expires_at = EXCLUDED.refresh_expires_at, last_refresh_at = now(),
               last_error = NULL, updated_at = now()
           RETURNING id""",
        account_id(platform, name),
        platform,
        name,
        external_id,
        display_name,
        scopes,
        secret.key_id,
        secret.wrapped_key,
        secret.nonce,
        secret.ciphertext,
        access_expires_at,
        refresh_expires_at,
    )
    assert row is not None
    return str(row["id"])


async def find(conn: Executor, platform: str, name: str | None) -> asyncpg.Record | None:
    """The named account, or the platform's only one when `name` is None."""
    if name is not None:
        row: asyncpg.Record | None = await conn.fetchrow(
            "SELECT * FROM platform_accounts WHERE platform = $1 AND name = $2", platform, name
        )
        return row
    rows = await conn.fetch(
        "SELECT * FROM platform_accounts WHERE platform = $1 ORDER BY created_at LIMIT 2",
        platform,
    )
    return rows[0] if len(rows) == 1 else None


async def lock(conn: Conn, account: str) -> asyncpg.Record | None:
    """The account's row, locked until the transaction ends (refreshes never race)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM platform_accounts WHERE id = $1 FOR UPDATE", account
    )
    return row


async def store_tokens(
    conn: Conn,
    account: str,
    secret: Sealed,
    access_expires_at: datetime | None,
    refresh_expires_at: datetime | None,
) -> None:
    await conn.execute(
        """UPDATE platform_accounts SET key_id = $2, wrapped_key = $3, nonce = $4,
               ciphertext = $5, access_expires_at = $6,
               refresh_expires_at = coalesce($7, refresh_expires_at), last_refresh_at = now(),
               status = 'active', last_error = NULL, updated_at = now()
           WHERE id = $1""",
        account,
        secret.key_id,
        secret.wrapped_key,
        secret.nonce,
        secret.ciphertext,
        access_expires_at,
        refresh_expires_at,
    )


async def mark_needs_reauth(conn: Conn, account: str, error: dict[str, Any]) -> bool:
    """True when this changed the status (the first refusal: alert once)."""
    status = await conn.fetchval(
        """UPDATE platform_accounts SET status = 'needs_reauth', last_error = $2::jsonb,
               updated_at = now()
           WHERE id = $1 AND status <> 'needs_reauth' RETURNING status""",
        account,
        json.dumps(error),
    )
    return status is not None


async def list_all(conn: Executor) -> list[asyncpg.Record]:
    return list(await conn.fetch(f"SELECT {COLUMNS} FROM platform_accounts ORDER BY id"))


async def delete(conn: Executor, platform: str, name: str) -> bool:
    result = await conn.execute(
        "DELETE FROM platform_accounts WHERE platform = $1 AND name = $2", platform, name
    )
    return result.endswith(" 1")


async def sealed_rows(conn: Executor, not_key: str, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT id, key_id, wrapped_key, nonce, ciphertext FROM platform_accounts
               WHERE key_id <> $1 ORDER BY id LIMIT $2""",
            not_key,
            limit,
        )
    )


async def rewrap(conn: Executor, account: str, old_key: str, secret: Sealed) -> bool:
    """Replace the wrapped data key (only if the row is still under `old_key`)."""
    result = await conn.execute(
        """UPDATE platform_accounts SET key_id = $3, wrapped_key = $4
           WHERE id = $1 AND key_id = $2""",
        account,
        old_key,
        secret.key_id,
        secret.wrapped_key,
    )
    return result.endswith(" 1")


async def key_ids(conn: Executor) -> dict[str, int]:
    rows = await conn.fetch("SELECT key_id, count(*) AS n FROM platform_accounts GROUP BY 1")
    return {r["key_id"]: r["n"] for r in rows}


async def pause_pending(conn: Conn, platform: str, account: str | None) -> int:
    """Pending publications of the account (or of the platform's default): `paused`."""
    result = await conn.execute(
        """UPDATE publications SET status = 'paused'
           WHERE platform = $1 AND account IS NOT DISTINCT FROM $2 AND status = 'scheduled'""",
        platform,
        account,
    )
    return int(result.split()[-1])


async def resume_paused(conn: Conn, platform: str, name: str, only_account: bool) -> int:
    """After a reconnect: the account's paused publications are `scheduled` again (with the
    publications that named no account, when it is the platform's only account)."""
    result = await conn.execute(
        """UPDATE publications SET status = 'scheduled'
           WHERE platform = $1 AND status = 'paused'
             AND (account = $2 OR ($3 AND account IS NULL))""",
        platform,
        name,
        only_account,
    )
    return int(result.split()[-1])
