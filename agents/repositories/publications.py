"""The `publications` table (one row per content and platform) and `engagement` snapshots.

The rules that decide when these statements run are in `agents.publication`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from core.db import Conn, Executor
from core.errors import ErrorInfo
from events.trend import EngagementMetrics

WITH_PATH = """SELECT p.*, c.local_path FROM publications p
               JOIN content c ON c.id = p.content_id"""


async def schedule(
    conn: Conn,
    *,
    publication_id: str,
    content_id: str,
    platform: str,
    title: str,
    description: str,
    tags: list[str],
    scheduled_at: datetime,
    correlation_id: uuid.UUID,
    attempt: int,
    account: str | None = None,
) -> bool:
    """Record a request; True when it (re)scheduled the publication, False when a replay or
    a stale request changed nothing (only a later attempt of a failed one reschedules)."""
    row = await conn.fetchrow(
        """INSERT INTO publications (id, content_id, platform, title, description, tags,
                                     scheduled_at, status, correlation_id, attempt, account)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET status = 'scheduled',
               scheduled_at = EXCLUDED.scheduled_at, attempt = EXCLUDED.attempt
           WHERE publications.status = 'failed' AND publications.attempt < EXCLUDED.attempt
           RETURNING status""",
        publication_id,
        content_id,
        platform,
        title,
        description,
        tags,
        scheduled_at,
        correlation_id,
        attempt,
        account,
    )
    return row is not None


async def next_due(conn: Conn) -> asyncpg.Record | None:
    """The earliest due `scheduled` publication (with its video path), locked, or None."""
    row: asyncpg.Record | None = await conn.fetchrow(
        WITH_PATH
        + """ WHERE p.status = 'scheduled' AND p.scheduled_at <= now()
                        ORDER BY p.scheduled_at LIMIT 1 FOR UPDATE OF p SKIP LOCKED"""
    )
    return row


async def in_flight(conn: Executor) -> list[asyncpg.Record]:
    """Publications marked `publishing` (with their video path)."""
    return list(await conn.fetch(WITH_PATH + " WHERE p.status = 'publishing'"))


async def get(conn: Conn, publication_id: str) -> asyncpg.Record | None:
    """One publication with its video path."""
    row: asyncpg.Record | None = await conn.fetchrow(WITH_PATH + " WHERE p.id = $1", publication_id)
    return row


async def status(conn: Conn, publication_id: str) -> str | None:
    value = await conn.fetchval("SELECT status FROM publications WHERE id = $1", publication_id)
    return str(value) if value is not None else None


async def set_status(conn: Conn, publication_id: str, new_status: str) -> None:
    await conn.execute(
        "UPDATE publications SET status = $2 WHERE id = $1", publication_id, new_status
    )


async def mark_published(
    conn: Conn, publication_id: str, post_id: str | None, url: str, published_at: datetime
) -> None:
    await conn.execute(
        """UPDATE publications SET status = 'published', post_id = $2, url = $3,
                                   published_at = $4, last_error = NULL WHERE id = $1""",
        publication_id,
        post_id,
        url,
        published_at,
    )


async def mark_failed(conn: Conn, publication_id: str, new_status: str, error: ErrorInfo) -> None:
    await conn.execute(
        "UPDATE publications SET status = $2, last_error = $3::jsonb WHERE id = $1",
        publication_id,
        new_status,
        error.model_dump_json(),
    )


async def statuses_for_content(conn: Conn, content_id: str) -> dict[str, str]:
    """Platform -> status of every publication of `content_id`."""
    rows = await conn.fetch(
        "SELECT platform, status FROM publications WHERE content_id = $1", content_id
    )
    return {r["platform"]: r["status"] for r in rows}


async def published_with_posts(conn: Executor) -> list[asyncpg.Record]:
    """Published publications that have a platform post id (engagement can be asked)."""
    return list(
        await conn.fetch("SELECT * FROM publications WHERE status = 'published' AND post_id <> ''")
    )


async def insert_engagement(
    conn: Conn,
    *,
    engagement_id: str,
    publication_id: str,
    content_id: str,
    metrics: EngagementMetrics,
    recorded_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO engagement (id, publication_id, content_id, views, likes, comments,
                                   shares, engagement_rate, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        engagement_id,
        publication_id,
        content_id,
        metrics.views,
        metrics.likes,
        metrics.comments,
        metrics.shares,
        metrics.engagement_rate,
        recorded_at,
    )
