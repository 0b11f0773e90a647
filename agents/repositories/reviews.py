"""The `reviews` table (content held by the approval gate, and its one decision) and
`review_refusals` (decisions the orchestrator refused, for whoever sent them).

A review is `pending` until one decision moves it to `approved` or `rejected`; the decision
is written once (`decide` only updates a pending row), so a second one can never apply.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from core.db import Conn, Executor

ReviewStatus = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True)
class Review:
    """One piece of content held by the gate: what would go out, where, and its decision."""

    content_id: str
    correlation_id: uuid.UUID
    platforms: list[str]
    title: str
    description: str
    tags: list[str]
    path: str
    requested_at: datetime
    expires_at: datetime | None
    status: ReviewStatus
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    edits: dict[str, Any]
    expired: bool
    decision_event_id: uuid.UUID | None

    def is_expired(self, now: datetime) -> bool:
        """Whether the review waited past its expiry at `now`."""
        return self.expires_at is not None and self.expires_at <= now

    @classmethod
    def of(cls, row: asyncpg.Record) -> Review:
        return cls(
            content_id=row["content_id"],
            correlation_id=row["correlation_id"],
            platforms=list(row["platforms"]),
            title=row["title"],
            description=row["description"],
            tags=list(row["tags"]),
            path=row["path"],
            requested_at=row["requested_at"],
            expires_at=row["expires_at"],
            status=row["status"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            reason=row["reason"],
            edits=json.loads(row["edits"]) if row["edits"] else {},
            expired=row["expired"],
            decision_event_id=row["decision_event_id"],
        )


async def open_review(
    conn: Conn,
    *,
    content_id: str,
    correlation_id: uuid.UUID,
    platforms: Sequence[str],
    title: str,
    description: str,
    tags: Sequence[str],
    path: str,
    expires_in_s: float | None,
) -> bool:
    """Hold `content_id` for approval; False when it is held already (nothing changes)."""
    status = await conn.execute(
        """INSERT INTO reviews (content_id, correlation_id, platforms, title, description, tags,
                                path, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7,
                   CASE WHEN $8::float8 IS NULL THEN NULL
                        ELSE now() + make_interval(secs => $8::float8) END)
           ON CONFLICT (content_id) DO NOTHING""",
        content_id,
        correlation_id,
        list(platforms),
        title,
        description,
        list(tags),
        path,
        expires_in_s,
    )
    return status.split()[-1] == "1"


async def lock(conn: Conn, content_id: str) -> Review | None:
    """The review of `content_id`, locked until the transaction ends (None: not held)."""
    row = await conn.fetchrow("SELECT * FROM reviews WHERE content_id = $1 FOR UPDATE", content_id)
    return Review.of(row) if row is not None else None


async def get(conn: Executor, content_id: str) -> Review | None:
    row = await conn.fetchrow("SELECT * FROM reviews WHERE content_id = $1", content_id)
    return Review.of(row) if row is not None else None


async def decide(
    conn: Conn,
    content_id: str,
    *,
    status: Literal["approved", "rejected"],
    actor: str,
    decided_at: datetime,
    reason: str,
    edits: dict[str, Any],
    expired: bool,
    event_id: uuid.UUID,
) -> bool:
    """Record the decision on a pending review; False (nothing written) when not pending."""
    result = await conn.execute(
        """UPDATE reviews SET status = $2, decided_by = $3, decided_at = $4, reason = $5,
                              edits = $6::jsonb, expired = $7, decision_event_id = $8
           WHERE content_id = $1 AND status = 'pending'""",
        content_id,
        status,
        actor,
        decided_at,
        reason,
        json.dumps(edits),
        expired,
        event_id,
    )
    return result.split()[-1] == "1"


async def refuse(
    conn: Conn, *, event_id: uuid.UUID, content_id: str, decision: str, actor: str, reason: str
) -> None:
    """Record that the decision `event_id` was refused, and why (once per event)."""
    await conn.execute(
        """INSERT INTO review_refusals (event_id, content_id, decision, actor, reason)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        event_id,
        content_id,
        decision,
        actor,
        reason,
    )


async def expired_pending(conn: Executor, limit: int = 100) -> list[str]:
    """Content ids of pending reviews past their expiry (not locked: lock each to decide)."""
    rows = await conn.fetch(
        """SELECT content_id FROM reviews WHERE status = 'pending' AND expires_at <= now()
           ORDER BY expires_at LIMIT $1""",
        limit,
    )
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Outcome:
    """What became of one decision command: applied, refused (and why), or not yet handled."""

    state: Literal["applied", "refused", "pending"]
    detail: str = ""


async def outcome(conn: Executor, event_id: uuid.UUID) -> Outcome:
    """Whether the orchestrator has applied or refused the decision `event_id` yet."""
    row = await conn.fetchrow(
        "SELECT status, decided_by FROM reviews WHERE decision_event_id = $1", event_id
    )
    if row is not None:
        return Outcome("applied", f"{row['status']} by {row['decided_by']}")
    reason = await conn.fetchval("SELECT reason FROM review_refusals WHERE event_id = $1", event_id)
    if reason is not None:
        return Outcome("refused", str(reason))
    return Outcome("pending")


async def refusals(conn: Executor, content_id: str) -> list[dict[str, Any]]:
    """The refused decisions on `content_id`, newest first."""
    rows = await conn.fetch(
        """SELECT event_id::text AS event_id, decision, actor, reason, refused_at
           FROM review_refusals WHERE content_id = $1 ORDER BY refused_at DESC""",
        content_id,
    )
    return [dict(r) for r in rows]
