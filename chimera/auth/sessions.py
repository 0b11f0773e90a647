"""Login sessions of the console, in PostgreSQL (`console_sessions`).

A session is a random secret held by the browser (in a signed, HttpOnly cookie); only its
SHA-256 is stored, with the user, the session's CSRF token and its expiry. A session stops
working when it expires, when the user logs out (the row is deleted), and at once when the
user is disabled (checked on every request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from chimera.auth.roles import Role
from core.db import Executor


@dataclass(frozen=True)
class Session:
    """A live session: who, their current role, and the token their forms must carry."""

    user: str
    role: Role
    csrf_token: str
    digest: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def open_session(db: Executor, user: str, max_age_s: float) -> tuple[str, Session]:
    """A new session for `user`: returns the secret for the cookie and the session."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    role = await db.fetchval(
        """WITH opened AS (
               INSERT INTO console_sessions (id_sha256, user_name, csrf_token, expires_at)
               VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING user_name)
           SELECT u.role FROM users u JOIN opened o ON o.user_name = u.name""",
        _digest(secret),
        user,
        csrf,
        max_age_s,
    )
    return secret, Session(user, Role(role), csrf, _digest(secret))


async def lookup(db: Executor, secret: str) -> Session | None:
    """The live session of `secret` (not expired, user active), or None."""
    row = await db.fetchrow(
        """UPDATE console_sessions s SET last_seen_at = now() FROM users u
           WHERE s.id_sha256 = $1 AND s.expires_at > now() AND u.name = s.user_name
                 AND NOT u.disabled
           RETURNING s.user_name, u.role, s.csrf_token""",
        _digest(secret),
    )
    if row is None:
        return None
    return Session(row["user_name"], Role(row["role"]), row["csrf_token"], _digest(secret))


async def close_session(db: Executor, digest: str) -> None:
    """Log out: the session's row goes."""
    await db.execute("DELETE FROM console_sessions WHERE id_sha256 = $1", digest)


async def prune(db: Executor) -> int:
    """Delete expired sessions; returns how many."""
    status = await db.execute("DELETE FROM console_sessions WHERE expires_at <= now()")
    return int(status.split()[-1])
