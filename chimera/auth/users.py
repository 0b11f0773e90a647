"""Users and API tokens in PostgreSQL, and "who is this?" for a password or a token.

API tokens look like `chm_<id>_<secret>`; only the SHA-256 of the whole token is stored, and
the token is shown once, when created. A disabled user's password and tokens stop working.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from chimera.auth.passwords import hash_password, needs_rehash, verify_password
from chimera.auth.roles import Role
from core.db import Executor

__all__ = ["Principal", "User"]
from core.errors import ValidationError

TOKEN_PREFIX = "chm_"  # noqa: S105 - a prefix, not a secret
# Verified against when a name is unknown, so "no such user" and "wrong password" take as long.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$i02hFfI/8cwrgVScX4W2Ug"
    "$paA9nSnSM4aApgN4BXtWr4K69I6glV2QUXuOjC9foFU"
)


@dataclass(frozen=True)
class Principal:
    """Someone authenticated: a user's name and role (and the token id, for tokens)."""

    name: str
    role: Role
    token_id: str | None = None


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool
    created_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(
            f"no role {value!r}; one of {', '.join(r.value for r in Role)}", code="UNKNOWN_ROLE"
        ) from None


async def add_user(db: Executor, name: str, role: str, password: str) -> User:
    """Create a user; a name that exists is refused."""
    hashed = hash_password(password)
    try:
        row = await db.fetchrow(
            """INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3)
               RETURNING name, role, disabled, created_at""",
            name,
            _role(role).value,
            hashed,
        )
    except asyncpg.UniqueViolationError:
        raise ValidationError(f"user {name!r} exists already", code="USER_EXISTS") from None
    except asyncpg.CheckViolationError:
        raise ValidationError(
            f"invalid user name {name!r} (letters, digits, . _ @ -; at most 64)",
            code="INVALID_NAME",
        ) from None
    assert row is not None
    return User(row["name"], Role(row["role"]), row["disabled"], row["created_at"])


async def list_users(db: Executor) -> list[User]:
    rows = await db.fetch("SELECT name, role, disabled, created_at FROM users ORDER BY name")
    return [User(r["name"], Role(r["role"]), r["disabled"], r["created_at"]) for r in rows]


async def _update(db: Executor, name: str, sql: str, *args: object) -> None:
    status = await db.execute(sql, name, *args)
    if status.split()[-1] == "0":
        raise ValidationError(f"no user {name!r}", code="NO_SUCH_USER")


async def disable_user(db: Executor, name: str) -> None:
    await _update(db, name, "UPDATE users SET disabled = true, updated_at = now() WHERE name = $1")


async def set_role(db: Executor, name: str, role: str) -> None:
    await _update(
        db,
        name,
        "UPDATE users SET role = $2, updated_at = now() WHERE name = $1",
        _role(role).value,
    )


async def reset_password(db: Executor, name: str, password: str) -> None:
    await _update(
        db,
        name,
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE name = $1",
        hash_password(password),
    )


async def authenticate(db: Executor, name: str, password: str) -> Principal | None:
    """The user if `password` is theirs and they are not disabled, else None."""
    row = await db.fetchrow("SELECT role, password_hash, disabled FROM users WHERE name = $1", name)
    if row is None:
        verify_password(_DUMMY_HASH, password)  # same work as for a real user
        return None
    if not verify_password(row["password_hash"], password) or row["disabled"]:
        return None
    if needs_rehash(row["password_hash"]):
        await db.execute(
            "UPDATE users SET password_hash = $2 WHERE name = $1", name, hash_password(password)
        )
    return Principal(name, Role(row["role"]))


async def create_token(db: Executor, name: str, label: str = "") -> str:
    """A new API token for user `name`; returns it (the only time it is shown)."""
    token_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    try:
        await db.execute(
            "INSERT INTO api_tokens (id, user_name, label, token_sha256) VALUES ($1, $2, $3, $4)",
            token_id,
            name,
            label,
            _digest(token),
        )
    except asyncpg.ForeignKeyViolationError:
        raise ValidationError(f"no user {name!r}", code="NO_SUCH_USER") from None
    return token


async def revoke_token(db: Executor, token_id: str) -> None:
    status = await db.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    if status.split()[-1] == "0":
        raise ValidationError(f"no active token {token_id!r}", code="NO_SUCH_TOKEN")


async def verify_token(db: Executor, token: str) -> Principal | None:
    """The user a bearer token belongs to (not revoked, user not disabled), else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await db.fetchrow(
        """UPDATE api_tokens t SET last_used_at = now() FROM users u
           WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND u.name = t.user_name
                 AND NOT u.disabled
           RETURNING t.id, u.name, u.role""",
        _digest(token),
    )
    return Principal(row["name"], Role(row["role"]), row["id"]) if row is not None else None
