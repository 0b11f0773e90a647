"""SQL shared by several agents (trend rows, content status). Plain functions over a connection."""

from __future__ import annotations

import json
from typing import Any

from chimera.db import Conn
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
    return (trend.id, trend.platform, trend.topic, trend.title, trend.description,
            trend.engagement_metrics.model_dump_json(), trend.velocity, trend.timestamp,
            trend.url, trend.tags)


async def set_content_status(conn: Conn, content_id: str, status: str, **fields: Any) -> str | None:
    """Move a content row to `status` (and set other columns); returns the previous status."""
    previous = await conn.fetchval("SELECT status FROM content WHERE id = $1 FOR UPDATE",
                                   content_id)
    assignments = ["status = $2", "updated_at = now()"]
    values: list[Any] = [content_id, status]
    for column, value in fields.items():
        if column not in {"script", "local_path", "metadata"}:
            raise ValueError(f"cannot set content.{column}")
        values.append(json.dumps(value) if column == "metadata" else value)
        cast = "::jsonb" if column == "metadata" else ""
        assignments.append(f"{column} = ${len(values)}{cast}")
    await conn.execute(f"UPDATE content SET {', '.join(assignments)} WHERE id = $1", *values)
    return str(previous) if previous is not None else None
