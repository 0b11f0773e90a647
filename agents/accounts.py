"""Connected platform accounts in PostgreSQL: tokens sealed at rest, refreshed ahead of expiry
under a row lock, and accounts the platform refused marked for reconnection.

* `bearer` returns the account's access token while it has more than the refresh margin left;
  otherwise it locks the account's row (`SELECT ... FOR UPDATE`), reads it again (another
  process may have refreshed it meanwhile: X's refresh tokens die on use, so two refreshes
  must never race), refreshes through `skills.accounts.oauth`, and stores the new tokens,
  sealed, before the lock is released. A refresh answer without a refresh token keeps the old.
* A refused grant (`invalid_grant`, revoked) marks the account `needs_reauth` (committed) and
  raises `ReauthRequired`; the publish agent then pauses the account's publications and
  raises one OperatorAlert. `chimera accounts connect` makes it `active` again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import SecretStr

from agents.repositories import accounts as repo
from core.crypto import Keyring, Sealed
from core.errors import ConfigError, PermanentError
from skills.accounts.oauth import (
    OAuthClient,
    OAuthSettings,
    ReauthRequired,
    TokenSet,
    platform_config,
)

ClientFactory = Callable[[str], OAuthClient]


def seal_tokens(keyring: Keyring, account: str, tokens: TokenSet) -> Sealed:
    return keyring.seal(json.dumps(tokens.as_secret_json()).encode(), context=account)


def open_tokens(keyring: Keyring, row: asyncpg.Record) -> dict[str, str | None]:
    data: dict[str, str | None] = json.loads(keyring.open(repo.sealed(row), context=row["id"]))
    return data


def default_clients(settings: OAuthSettings) -> ClientFactory:
    return lambda platform: OAuthClient(platform_config(platform, settings), settings)  # type: ignore[arg-type]


class PgAccessTokens:
    """`skills.accounts.tokens.AccessTokens` over the `platform_accounts` table."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        settings: OAuthSettings | None = None,
        *,
        clients: ClientFactory | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.settings = settings or OAuthSettings()
        self.clients = clients or default_clients(self.settings)
        self.now = now

    async def _row(self, platform: str, account: str | None) -> asyncpg.Record:
        row = await repo.find(self.pool, platform, account)
        if row is None:
            which = f"account {account!r}" if account else "an account (or several: name one)"
            raise PermanentError(
                f"{platform}: no {which} connected; run `chimera accounts connect`",
                code="CREDENTIALS_MISSING",
                details={"platform": platform, "account": account},
            )
        if row["status"] == "needs_reauth":
            raise ReauthRequired(
                f"{platform} account {row['name']!r} needs reconnecting "
                "(`chimera accounts connect`)",
                details={"platform": platform, "account": row["name"]},
            )
        return row

    def _fresh(self, row: asyncpg.Record) -> bool:
        expires = row["access_expires_at"]
        margin = timedelta(seconds=self.settings.token_refresh_margin_s)
        return expires is None or expires - margin > self.now()

    async def bearer(self, platform: str, account: str | None) -> SecretStr:
        row = await self._row(platform, account)
        if self._fresh(row):
            token = open_tokens(self.keyring, row)["access_token"]
            if token:
                return SecretStr(token)
        return await self._refresh(row["id"], force=False)

    async def rejected(self, platform: str, account: str | None) -> None:
        """A token the platform should have taken was refused (HTTP 401): refresh it now;
        a refused refresh marks the account (ReauthRequired propagates)."""
        row = await self._row(platform, account)
        await self._refresh(row["id"], force=True)

    async def _refresh(self, account_id: str, *, force: bool) -> SecretStr:
        refused: ReauthRequired | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.lock(conn, account_id)
            if row is None:
                raise PermanentError(f"account {account_id} was disconnected", code="NOT_FOUND")
            tokens = open_tokens(self.keyring, row)
            if not force and self._fresh(row) and tokens["access_token"]:
                return SecretStr(tokens["access_token"])  # refreshed by another process
            refresh = tokens.get("refresh_token")
            try:
                if not refresh:
                    raise ReauthRequired(
                        f"{row['platform']} account {row['name']!r} has no refresh token",
                        details={"platform": row["platform"], "account": row["name"]},
                    )
                fresh = await self.clients(row["platform"]).refresh(SecretStr(refresh))
            except ReauthRequired as exc:
                await repo.mark_needs_reauth(conn, account_id, _error(exc))
                refused = exc
            else:
                sealed = seal_tokens(self.keyring, account_id, fresh)
                await repo.store_tokens(
                    conn, account_id, sealed, fresh.expires_at, fresh.refresh_expires_at
                )
                return fresh.access_token
        assert refused is not None
        raise refused  # after the commit: the account stays marked


def _error(exc: ReauthRequired) -> dict[str, Any]:
    return {"code": exc.code, "message": str(exc)[:300], "at": datetime.now(UTC).isoformat()}


async def verify_keyring(pool: asyncpg.Pool, keyring: Keyring) -> None:
    """At start: every stored record's master key must be configured, and one must open.
    A missing or wrong key is one line (ConfigError), never a plaintext fallback."""
    used = await repo.key_ids(pool)
    unknown = sorted(set(used) - set(keyring.ids))
    if unknown:
        raise ConfigError(
            f"the master key does not match the stored credentials: they are sealed under "
            f"{', '.join(unknown)}, the configured key(s) are {', '.join(keyring.ids)}"
        )
    row = await pool.fetchrow("SELECT * FROM platform_accounts LIMIT 1")
    if row is not None:
        open_tokens(keyring, row)  # DecryptionError (a ConfigError) if it does not open
