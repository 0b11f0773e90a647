"""Velocity: views gained per hour, from successive snapshots of the same item in PostgreSQL.

Every fetch records one row per item in `trend_snapshots` (trend id, observed_at, counts). An
item's velocity is `(views_now - views_then) / hours_between`, where "then" is its latest
snapshot at least `MIN_GAP` older than this fetch (two fetches seconds apart say nothing about
growth). On the first sighting, or without an older snapshot, the velocity is 0. A platform
that corrects its counts downwards gives a negative velocity; it is reported as it is.
Snapshots older than the retention period are deleted as new ones are written.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from events.trend import Trend

MIN_GAP = timedelta(minutes=1)

_PREVIOUS = """
SELECT DISTINCT ON (trend_id) trend_id, observed_at, views
  FROM trend_snapshots
 WHERE trend_id = ANY($1::text[]) AND observed_at <= $2
 ORDER BY trend_id, observed_at DESC
"""

_INSERT = """
INSERT INTO trend_snapshots (trend_id, observed_at, views, likes, comments, shares)
SELECT t.trend_id, $2, t.views, t.likes, t.comments, t.shares
  FROM unnest($1::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
       AS t(trend_id, views, likes, comments, shares)
ON CONFLICT (trend_id, observed_at) DO NOTHING
"""

_PRUNE = "DELETE FROM trend_snapshots WHERE observed_at < $1"


def views_per_hour(views_now: int, views_then: int, now: datetime, then: datetime) -> float:
    """Growth in views per hour between two snapshots (0 when no time passed)."""
    hours = (now - then).total_seconds() / 3600
    if hours <= 0:
        return 0.0
    return round((views_now - views_then) / hours, 3)


class PgTrendSnapshots:
    """`skills.context.TrendSnapshots` in PostgreSQL's `trend_snapshots` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def apply_velocity(
        self,
        trends: list[Trend],
        observed_at: datetime,
        *,
        retention: timedelta = timedelta(days=35),
    ) -> list[Trend]:
        """Record a snapshot of each trend and return the trends with their velocity set."""
        return await apply_velocity(self.pool, trends, observed_at, retention=retention)


async def apply_velocity(
    pool: asyncpg.Pool,
    trends: list[Trend],
    observed_at: datetime,
    *,
    retention: timedelta = timedelta(days=35),
) -> list[Trend]:
    """Record a snapshot of each trend and return the trends with their velocity set."""
    if not trends:
        return []
    unique = list({t.id: t for t in trends}.values())
    ids = [t.id for t in unique]
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_PREVIOUS, ids, observed_at - MIN_GAP)
        await conn.execute(
            _INSERT,
            ids,
            observed_at,
            [t.engagement_metrics.views for t in unique],
            [t.engagement_metrics.likes for t in unique],
            [t.engagement_metrics.comments for t in unique],
            [t.engagement_metrics.shares for t in unique],
        )
        await conn.execute(_PRUNE, observed_at - retention)
    previous = {r["trend_id"]: (r["views"], r["observed_at"]) for r in rows}
    out: list[Trend] = []
    for trend in trends:
        before = previous.get(trend.id)
        velocity = (
            0.0
            if before is None
            else views_per_hour(trend.engagement_metrics.views, before[0], observed_at, before[1])
        )
        out.append(trend.model_copy(update={"velocity": velocity}))
    return out
