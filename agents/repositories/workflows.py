"""The `workflows` table (one row per trend event, keyed by its correlation id) and the
`budget_usage` counters the orchestrator spends when it accepts a trend.

Workflow states: `rejected` | `generating` -> `publishing` -> `completed` | `partial` |
`abandoned`; `generating` -> `abandoned` when generation fails for good. With the approval
gate: `generating` -> `awaiting_approval` -> `publishing` (approved, or rejected while
platforms without a gate still publish) | `declined` (rejected, nothing else to publish).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from core.db import Conn

WorkflowRow = tuple[uuid.UUID, str, str, str | None, str, str, list[str], int]


async def lock_topics(conn: Conn, topics: Sequence[str]) -> None:
    """Serialise decisions per topic across replicas until the transaction ends (locks taken
    in sorted order, so two batches cannot deadlock)."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(h) FROM (
               SELECT hashtext('chimera-topic:' || t) AS h FROM unnest($1::text[]) AS t
               ORDER BY 1) AS ordered""",
        sorted(topics),
    )


async def covered_topics(conn: Conn, topics: Sequence[str], within_s: float) -> set[str]:
    """Those of `topics` with a workflow (not rejected) created in the last `within_s`."""
    rows = await conn.fetch(
        """SELECT DISTINCT topic FROM workflows WHERE topic = ANY($1) AND state <> 'rejected'
               AND created_at > now() - make_interval(secs => $2)""",
        list(topics),
        within_s,
    )
    return {r[0] for r in rows}


async def insert(conn: Conn, rows: Sequence[WorkflowRow]) -> None:
    """New workflows of (correlation_id, trend_id, topic, content_id, state, reason,
    platforms, generate_attempts); an existing correlation id is left alone."""
    await conn.executemany(
        """INSERT INTO workflows (correlation_id, trend_id, topic, content_id, state, reason,
                                  platforms, generate_attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        rows,
    )


async def for_content(conn: Conn, content_id: str) -> asyncpg.Record | None:
    """The workflow of `content_id`, locked until the transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM workflows WHERE content_id = $1 FOR UPDATE", content_id
    )
    return row


async def set_state(
    conn: Conn, correlation_id: uuid.UUID, state: str, reason: str | None = None
) -> None:
    await conn.execute(
        """UPDATE workflows SET state = $2, reason = coalesce($3, reason), updated_at = now()
           WHERE correlation_id = $1""",
        correlation_id,
        state,
        reason,
    )


async def set_platforms(conn: Conn, correlation_id: uuid.UUID, platforms: Sequence[str]) -> None:
    """The platforms the workflow publishes on (a review may narrow them)."""
    await conn.execute(
        "UPDATE workflows SET platforms = $2, updated_at = now() WHERE correlation_id = $1",
        correlation_id,
        list(platforms),
    )


async def set_generate_attempts(conn: Conn, correlation_id: uuid.UUID, attempts: int) -> None:
    await conn.execute(
        """UPDATE workflows SET generate_attempts = $2, updated_at = now()
           WHERE correlation_id = $1""",
        correlation_id,
        attempts,
    )


async def budget_used_today(conn: Conn) -> dict[str, int]:
    """Today's (UTC) budget counters per platform, locked until commit so that replicas
    cannot both spend the last slot."""
    rows = await conn.fetch(
        """SELECT platform, used FROM budget_usage
           WHERE day = (now() AT TIME ZONE 'UTC')::date FOR UPDATE"""
    )
    return {r["platform"]: r["used"] for r in rows}


async def spend_budget(conn: Conn, spent: Iterable[tuple[str, int]]) -> None:
    await conn.executemany(
        """INSERT INTO budget_usage (day, platform, used)
           VALUES ((now() AT TIME ZONE 'UTC')::date, $1, $2)
           ON CONFLICT (day, platform) DO UPDATE SET used = budget_usage.used + EXCLUDED.used""",
        list(spent),
    )


def platforms(row: Any) -> list[str]:
    return list(row["platforms"] or [])
