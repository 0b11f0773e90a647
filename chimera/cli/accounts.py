"""`chimera accounts connect | list | disconnect` and `chimera keys generate | rotate | status`."""

from __future__ import annotations

import asyncio
import webbrowser
from collections.abc import Callable
from typing import Annotated

import asyncpg
import typer

from agents.accounts import seal_tokens, verify_keyring
from agents.repositories import accounts as repo
from chimera.cli.common import ErrorsAsOneLine, load_settings
from core import crypto
from core.db import require_schema
from core.errors import ChimeraError
from core.settings import Settings
from skills.accounts.loopback import LoopbackReceiver
from skills.accounts.oauth import (
    PLATFORM_ALIASES,
    AccountPlatform,
    OAuthClient,
    OAuthSettings,
    platform_config,
)

accounts_app = typer.Typer(
    no_args_is_help=True, cls=ErrorsAsOneLine, help="Platform accounts (OAuth 2.0)."
)
keys_app = typer.Typer(
    no_args_is_help=True, cls=ErrorsAsOneLine, help="Master keys of the encrypted credentials."
)

NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def _platform(value: str) -> AccountPlatform:
    try:
        return PLATFORM_ALIASES[value.lower()]
    except KeyError:
        raise ChimeraError(f"no platform {value!r}; choose youtube, tiktok or x") from None


async def connect_account(
    settings: Settings,
    platform: AccountPlatform,
    name: str | None,
    *,
    port: int = 0,
    timeout: float = 300.0,  # noqa: ASYNC109 - the browser's deadline, said in the error
    show: Callable[[str], None] = typer.echo,
    oauth: OAuthSettings | None = None,
) -> tuple[str, int]:
    """The whole connect flow; returns (account id, publications resumed)."""
    await require_schema(settings)
    keyring = crypto.keyring_for(settings)
    oauth = oauth or OAuthSettings()
    client = OAuthClient(platform_config(platform, oauth), oauth)
    pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=2)
    assert pool is not None
    try:
        await verify_keyring(pool, keyring)
        receiver = LoopbackReceiver(port)
        await receiver.start()
        request = client.begin(receiver.redirect_uri)
        receiver.expect_state(request.state)
        show(f"Open this URL to connect {platform} (waiting on {receiver.redirect_uri}):")
        show(request.url)
        code = await receiver.wait(timeout)
        tokens = await client.exchange(request, code)
        identity = await client.identity(tokens)
        label = name or _label(identity.display_name, identity.external_id)
        async with pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT name FROM platform_accounts WHERE platform = $1 AND external_id = $2",
                platform,
                identity.external_id,
            )
            label = existing["name"] if existing and not name else label
            account = repo.account_id(platform, label)
            account_id = await repo.upsert(
                conn,
                platform=platform,
                name=label,
                external_id=identity.external_id,
                display_name=identity.display_name,
                scopes=list(tokens.scopes),
                secret=seal_tokens(keyring, account, tokens),
                access_expires_at=tokens.expires_at,
                refresh_expires_at=tokens.refresh_expires_at,
            )
            count = await conn.fetchval(
                "SELECT count(*) FROM platform_accounts WHERE platform = $1", platform
            )
            resumed = await repo.resume_paused(conn, platform, label, only_account=count == 1)
        return account_id, resumed
    finally:
        await pool.close()


def _label(display: str, external_id: str) -> str:
    import re

    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", display.lstrip("@")).strip("-")[:64]
    return cleaned or external_id[:64]


@accounts_app.command("connect")
def connect(
    platform: Annotated[str, typer.Argument(help="youtube | tiktok | x")],
    name: Annotated[
        str | None, typer.Option(help="What publications call it (default: its handle).")
    ] = None,
    port: Annotated[
        int, typer.Option(help="Loopback port (X and TikTok need the registered one).")
    ] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser.")] = 300.0,
    browser: Annotated[bool, typer.Option(help="Open the URL in a browser.")] = False,
) -> None:
    """Connect an account: OAuth 2.0 authorization code with PKCE and a loopback redirect."""
    import re

    if name is not None and not re.match(NAME_PATTERN, name):
        raise ChimeraError(f"--name must match {NAME_PATTERN}")

    def show(line: str) -> None:
        typer.echo(line)
        if browser and line.startswith("http"):
            webbrowser.open(line)

    account, resumed = asyncio.run(
        connect_account(
            load_settings(), _platform(platform), name, port=port, timeout=timeout, show=show
        )
    )
    typer.echo(
        f"connected {account}" + (f"; {resumed} paused publication(s) resumed" if resumed else "")
    )


@accounts_app.command("list")
def list_accounts() -> None:
    """The connected accounts, their status and token expiry (never the tokens)."""

    async def run() -> list[asyncpg.Record]:
        settings = load_settings()
        await require_schema(settings)
        conn = await asyncpg.connect(settings.dsn())
        try:
            return await repo.list_all(conn)
        finally:
            await conn.close()

    rows = asyncio.run(run())
    if not rows:
        typer.echo("no accounts connected (`chimera accounts connect youtube|tiktok|x`)")
    for r in rows:
        expires = r["access_expires_at"].isoformat() if r["access_expires_at"] else "-"
        typer.echo(
            f"{r['id']:<32} {r['status']:<13} {r['display_name'] or '':<24} access until {expires}"
        )


@accounts_app.command("disconnect")
def disconnect(
    platform: Annotated[str, typer.Argument(help="youtube | tiktok | x")],
    name: Annotated[str, typer.Argument(help="The account's name (`chimera accounts list`).")],
) -> None:
    """Forget an account and its tokens (revoke the app's access on the platform too)."""

    async def run() -> bool:
        settings = load_settings()
        await require_schema(settings)
        conn = await asyncpg.connect(settings.dsn())
        try:
            return await repo.delete(conn, _platform(platform), name)
        finally:
            await conn.close()

    if not asyncio.run(run()):
        raise ChimeraError(f"no {platform} account {name!r}")
    typer.echo(f"disconnected {_platform(platform)}:{name}; its tokens are deleted")


# --- keys -----------------------------------------------------------------------------------
@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new master key (for CHIMERA_SECRET_KEY or a key file)."""
    typer.echo(crypto.generate_key())


async def rotate_keys(settings: Settings, *, new_key: bool) -> tuple[str, int]:
    """Make a new key current (key file) and re-wrap every record's data key under the current
    key, in small batches, while agents run. Returns (current key id, records re-wrapped)."""
    if new_key:
        path = settings.secret_key_path
        if settings.secret_key is not None or path is None:
            raise ChimeraError(
                "the master key comes from CHIMERA_SECRET_KEY: put a new key first in it "
                "(`chimera keys generate`), keep the old one after it, and run "
                "`chimera keys rotate --rewrap-only`"
            )
        crypto.prepend_key(path, crypto.generate_key())
    keyring = crypto.keyring_for(settings)
    await require_schema(settings)
    conn = await asyncpg.connect(settings.dsn())
    moved = 0
    try:
        while rows := await repo.sealed_rows(conn, keyring.current_id, 100):
            for row in rows:
                fresh = keyring.rewrap(repo.sealed(row))
                moved += await repo.rewrap(conn, row["id"], row["key_id"], fresh)
    finally:
        await conn.close()
    return keyring.current_id, moved


@keys_app.command("rotate")
def keys_rotate(
    rewrap_only: Annotated[
        bool, typer.Option(help="Do not add a key: re-wrap under the current (first) one.")
    ] = False,
) -> None:
    """Rotate the master key without downtime: a new current key, every record re-wrapped."""
    current, moved = asyncio.run(rotate_keys(load_settings(), new_key=not rewrap_only))
    typer.echo(
        f"current master key {current}; {moved} record(s) re-wrapped. Running agents re-read "
        "the key file when they meet the new key; remove old keys once `chimera keys status` "
        "shows none in use"
    )


@keys_app.command("status")
def keys_status() -> None:
    """Which master keys the stored records use."""

    async def run() -> tuple[crypto.Keyring, dict[str, int]]:
        settings = load_settings()
        keyring = crypto.keyring_for(settings)
        await require_schema(settings)
        conn = await asyncpg.connect(settings.dsn())
        try:
            return keyring, await repo.key_ids(conn)
        finally:
            await conn.close()

    keyring, used = asyncio.run(run())
    for kid in keyring.ids:
        mark = "current" if kid == keyring.current_id else "old"
        typer.echo(f"{kid}  {mark:<8} {used.pop(kid, 0)} record(s)")
    for kid, count in used.items():
        typer.echo(f"{kid}  MISSING  {count} record(s): this key is not configured")
