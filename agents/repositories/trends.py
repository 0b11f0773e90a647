"""The `trends` table: one row per trend, refreshed by newer snapshots only."""

from __future__ import annotations

import json
from typing import Any

from core.db import Conn
from events import Trend

UPSERT_TREND = """
    INSERT INTO trends (id, platform, topic, title, description, engagement_metrics,
                        velocity, fetched_at, url, tags)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
    ON CONFLICT (id) DO UPDATE SET
        topic = EXCLUDED.topic, title = EXCLUDED.title, description = EXCLUDED.description,
        engagement_metrics = EXCLUDED.engagement_metrics, velocity = EXCLUDED.velocity,
        fetched_at = EXCLUDED.fetched_at, url = EXCLUDED.url, tags = EXCLUDED.tags
    WHERE trends.fetched_at < EXCLUDED.fetched_at"""


async def upsert_trend(conn: Conn, trend: Trend) -> float | None:
    """Insert or refresh a trend row; returns the velocity stored before, None if it is new.

    A snapshot older than the stored one never overwrites it (replays and late injections
    are harmless).
    """
    previous = await conn.fetchval("SELECT velocity FROM trends WHERE id = $1", trend.id)
    await conn.execute(UPSERT_TREND, *_trend_args(trend))
    return float(previous) if previous is not None else None


async def upsert_trends(conn: Conn, trends: list[Trend]) -> None:
    """`upsert_trend` for a batch, in one round trip (no previous velocities returned)."""
    await conn.executemany(UPSERT_TREND, [_trend_args(t) for t in trends])


def _trend_args(trend: Trend) -> tuple[Any, ...]:
    return (
        trend.id,
        trend.platform,
        trend.topic,
        trend.title,
        trend.description,
        trend.engagement_metrics.model_dump_json(),
        trend.velocity,
        trend.timestamp,
        trend.url,
        trend.tags,
    )


async def trend_payload(conn: Conn, trend_id: str) -> dict[str, Any] | None:
    """A stored trend as the specification's trend object (JSON-ready), or None."""
    row = await conn.fetchrow("SELECT * FROM trends WHERE id = $1", trend_id)
    if row is None:
        return None
    return {
        "id": row["id"],
        "platform": row["platform"],
        "topic": row["topic"],
        "title": row["title"],
        "description": row["description"] or "",
        "engagement_metrics": json.loads(row["engagement_metrics"]),
        "velocity": row["velocity"],
        "timestamp": row["fetched_at"].isoformat(),
        "url": row["url"],
        "tags": list(row["tags"] or []),
    }
