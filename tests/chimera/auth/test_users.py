"""Users, passwords and API tokens on the real database; the role ladder."""

from __future__ import annotations

import asyncpg
import pytest
from typer.testing import CliRunner

from chimera.auth import users
from chimera.auth.passwords import hash_password, verify_password
from chimera.auth.roles import Action, Role, may
from chimera.cli import app
from core.errors import ValidationError

PASSWORD = "correct horse battery"


def test_the_role_ladder() -> None:
    assert may(Role.VIEWER, Action.READ) and not may(Role.VIEWER, Action.REVIEW)
    assert may(Role.REVIEWER, Action.REVIEW) and not may(Role.REVIEWER, Action.OPERATE)
    assert may(Role.OPERATOR, Action.OPERATE) and not may(Role.OPERATOR, Action.MANAGE_USERS)
    assert all(may(Role.ADMIN, action) for action in Action)


def test_passwords_are_argon2id_and_checked() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    with pytest.raises(ValidationError, match="at least 12"):
        hash_password("short")


async def test_a_user_logs_in_until_disabled(pool: asyncpg.Pool) -> None:
    await users.add_user(pool, "maria", "reviewer", PASSWORD)
    assert await users.authenticate(pool, "maria", PASSWORD) == users.Principal(
        "maria", Role.REVIEWER
    )
    assert await users.authenticate(pool, "maria", "wrong password!!") is None
    assert await users.authenticate(pool, "nobody", PASSWORD) is None
    with pytest.raises(ValidationError, match="exists already"):
        await users.add_user(pool, "maria", "viewer", PASSWORD)
    with pytest.raises(ValidationError, match="no role"):
        await users.add_user(pool, "otto", "king", PASSWORD)
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE name = 'maria'")
    assert PASSWORD not in stored
    await users.disable_user(pool, "maria")
    assert await users.authenticate(pool, "maria", PASSWORD) is None


async def test_tokens_are_stored_hashed_shown_once_and_revocable(pool: asyncpg.Pool) -> None:
    await users.add_user(pool, "bot", "viewer", PASSWORD)
    token = await users.create_token(pool, "bot", "ci")
    assert token.startswith("chm_")
    stored = await pool.fetchrow("SELECT * FROM api_tokens")
    assert token not in str(dict(stored)) and stored["token_sha256"] != token
    principal = await users.verify_token(pool, token)
    assert principal is not None and (principal.name, principal.role) == ("bot", Role.VIEWER)
    assert await users.verify_token(pool, token + "x") is None
    assert await users.verify_token(pool, "Bearer nonsense") is None
    assert principal.token_id is not None
    await users.revoke_token(pool, principal.token_id)
    assert await users.verify_token(pool, token) is None


async def test_a_disabled_users_tokens_stop_working(pool: asyncpg.Pool) -> None:
    await users.add_user(pool, "ops", "operator", PASSWORD)
    token = await users.create_token(pool, "ops")
    await users.disable_user(pool, "ops")
    assert await users.verify_token(pool, token) is None


def test_the_users_command(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    added = runner.invoke(
        app, ["users", "add", "ana", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert "added ana (admin)" in added.output
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0 and "ana" in listed.output and "admin" in listed.output
    weak = runner.invoke(
        app, ["users", "add", "bo", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1 and "at least 12" in weak.output
    assert "Traceback" not in weak.output
    missing = runner.invoke(app, ["users", "disable", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output
