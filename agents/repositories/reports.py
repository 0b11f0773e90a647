"""Read-only views across the tables, for people: `chimera status`, the demo's summary, the
console's pages, `chimera review`, the MCP server's tools and resources. Nothing here
writes."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from core.db import Executor


async def _counts(conn: Executor, sql: str) -> dict[str, int]:
    return {r[0]: r[1] for r in await conn.fetch(sql)}


async def states(conn: Executor) -> dict[str, dict[str, int]]:
    """Rows per state: workflows, content and publications."""
    return {
        "workflows": await _counts(conn, "SELECT state, count(*) FROM workflows GROUP BY 1"),
        "content": await _counts(conn, "SELECT status, count(*) FROM content GROUP BY 1"),
        "publications": await _counts(conn, "SELECT status, count(*) FROM publications GROUP BY 1"),
    }


async def outbox_backlog(conn: Executor) -> dict[str, dict[str, float]]:
    """Per agent: unsent outbox rows and the age of the oldest, in seconds."""
    rows = await conn.fetch(
        """SELECT agent, count(*) AS n,
                  round(extract(epoch FROM now() - min(created_at))::numeric, 1)::float AS age
           FROM outbox WHERE sent_at IS NULL GROUP BY agent"""
    )
    return {r["agent"]: {"unsent": r["n"], "oldest_seconds": r["age"]} for r in rows}


async def recent_workflows(conn: Executor, limit: int = 10) -> list[dict[str, Any]]:
    """The workflows that changed last."""
    return [
        dict(r)
        for r in await conn.fetch(
            """SELECT w.correlation_id::text AS workflow, w.topic, w.state, w.reason,
                  w.content_id, w.updated_at
           FROM workflows w ORDER BY w.updated_at DESC LIMIT $1""",
            limit,
        )
    ]


async def totals(conn: Executor) -> dict[str, Any]:
    """Counts a whole run is judged by (the demo's summary)."""
    return {
        "trends": await conn.fetchval("SELECT count(*) FROM trends"),
        **await states(conn),
        "engagement_rows": await conn.fetchval("SELECT count(*) FROM engagement"),
        "audit_rows": await conn.fetchval("SELECT count(*) FROM audit_logs"),
        "outbox_unsent": await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
        "render_seconds": [
            float(r[0])
            for r in await conn.fetch(
                """SELECT extract(epoch FROM updated_at - created_at) FROM content
               WHERE status IN ('ready', 'published') ORDER BY created_at"""
            )
        ],
        "videos": [
            r[0]
            for r in await conn.fetch(
                "SELECT local_path FROM content WHERE local_path IS NOT NULL ORDER BY 1"
            )
        ],
        "urls": [
            r[0]
            for r in await conn.fetch(
                "SELECT url FROM publications WHERE status = 'published' ORDER BY 1"
            )
        ],
    }


async def videos_made(conn: Executor) -> list[dict[str, Any]]:
    """Per rendered video: its file, voice engine, cuts, captions, music and loudness."""
    rows = await conn.fetch(
        """SELECT local_path,
                  metadata->'voice'->>'engine' AS voice,
                  metadata->'voice'->>'fallback_from' AS fallback_from,
                  (metadata->>'cuts')::int AS cuts,
                  (metadata->>'visuals')::int AS visuals,
                  metadata->'captions'->>'style' AS caption_style,
                  metadata->'captions'->>'timing' AS caption_timing,
                  metadata->>'music' AS music,
                  (metadata->'loudness'->>'integrated_lufs')::float AS lufs,
                  (metadata->'loudness'->>'true_peak_dbtp')::float AS true_peak,
                  (metadata->>'duration')::float AS duration
           FROM content WHERE local_path IS NOT NULL ORDER BY 1"""
    )
    return [dict(r) for r in rows]


async def processed(conn: Executor, consumer: str) -> int:
    """How many events `consumer` has processed (its inbox rows)."""
    return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer))


# --- the console and `chimera review` ---------------------------------------------------------
async def review_queue(
    conn: Executor, status: str = "pending", limit: int = 200
) -> list[dict[str, Any]]:
    """Reviews in `status` (oldest first for pending, newest first otherwise), each with the
    trend it came from and its video."""
    order = "r.requested_at" if status == "pending" else "r.decided_at DESC NULLS LAST"
    return [
        dict(r)
        for r in await conn.fetch(
            f"""SELECT r.content_id, r.title, r.platforms, r.requested_at, r.expires_at,
                       r.status, r.decided_by, r.decided_at, r.reason, r.expired,
                       c.local_path, c.metadata, t.id AS trend_id, t.topic, t.platform AS source,
                       t.velocity
                FROM reviews r JOIN content c ON c.id = r.content_id
                LEFT JOIN trends t ON t.id = c.trend_id
                WHERE r.status = $1 ORDER BY {order} LIMIT $2""",
            status,
            limit,
        )
    ]


async def content_detail(conn: Executor, content_id: str) -> dict[str, Any] | None:
    """One piece of content with its trend, workflow, review, refusals and publications."""
    row = await conn.fetchrow(
        """SELECT c.id, c.status, c.script, c.style, c.local_path, c.metadata, c.created_at,
                  c.updated_at, t.id AS trend_id, t.topic, t.title AS trend_title,
                  t.platform AS source, t.url AS trend_url, t.velocity, t.tags AS trend_tags,
                  t.description AS trend_description, w.state AS workflow_state,
                  w.reason AS workflow_reason, w.platforms, w.correlation_id::text AS workflow
           FROM content c LEFT JOIN trends t ON t.id = c.trend_id
           LEFT JOIN workflows w ON w.content_id = c.id WHERE c.id = $1""",
        content_id,
    )
    if row is None:
        return None
    detail = dict(row)
    detail["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
    review = await conn.fetchrow("SELECT * FROM reviews WHERE content_id = $1", content_id)
    detail["review"] = dict(review) if review is not None else None
    if review is not None and review["edits"]:
        detail["review"]["edits"] = json.loads(review["edits"])
    detail["refusals"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT event_id::text AS event_id, decision, actor, reason, refused_at
               FROM review_refusals WHERE content_id = $1 ORDER BY refused_at DESC""",
            content_id,
        )
    ]
    detail["publications"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT id, platform, status, title, url, scheduled_at, published_at
               FROM publications WHERE content_id = $1 ORDER BY platform""",
            content_id,
        )
    ]
    return detail


async def trends_overview(conn: Executor, limit: int = 200) -> list[dict[str, Any]]:
    """The latest trends: velocity, source, and what became of each (decision, content,
    publications)."""
    return [
        dict(r)
        for r in await conn.fetch(
            """SELECT t.id, t.platform AS source, t.topic, t.title, t.url, t.velocity,
                      t.fetched_at, t.tags, w.state AS workflow_state, w.reason,
                      w.content_id, c.status AS content_status,
                      (SELECT string_agg(p.platform || ':' || p.status, ', ' ORDER BY p.platform)
                         FROM publications p WHERE p.content_id = w.content_id) AS publications
               FROM trends t
               LEFT JOIN LATERAL (SELECT * FROM workflows w WHERE w.trend_id = t.id
                                  ORDER BY w.created_at DESC LIMIT 1) w ON true
               LEFT JOIN content c ON c.id = w.content_id
               ORDER BY t.fetched_at DESC, t.velocity DESC LIMIT $1""",
            limit,
        )
    ]


async def publications_overview(conn: Executor, limit: int = 200) -> list[dict[str, Any]]:
    """Publications, newest first, with their latest engagement snapshot."""
    return [
        dict(r)
        for r in await conn.fetch(
            """SELECT p.id, p.content_id, p.platform, p.status, p.title, p.url, p.post_id,
                      p.scheduled_at, p.published_at, p.attempt,
                      e.views, e.likes, e.comments, e.shares, e.recorded_at
               FROM publications p
               LEFT JOIN LATERAL (SELECT * FROM engagement e WHERE e.publication_id = p.id
                                  ORDER BY e.recorded_at DESC LIMIT 1) e ON true
               ORDER BY coalesce(p.published_at, p.scheduled_at) DESC NULLS LAST LIMIT $1""",
            limit,
        )
    ]


async def engagement_series(conn: Executor, publication_ids: list[str]) -> dict[str, list[Any]]:
    """Per publication, its engagement snapshots in time order (recorded_at, views, likes,
    comments, shares)."""
    series: dict[str, list[Any]] = {p: [] for p in publication_ids}
    for r in await conn.fetch(
        """SELECT publication_id, recorded_at, views, likes, comments, shares FROM engagement
           WHERE publication_id = ANY($1) ORDER BY recorded_at""",
        publication_ids,
    ):
        series[r["publication_id"]].append(dict(r))
    return series


async def audit_search(
    conn: Executor,
    *,
    content_id: str = "",
    agent: str = "",
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Audit rows, newest first, narrowed by any of: the content they are about, the agent,
    the person (`actor` in the input), the action (prefix), a time window."""
    rows = await conn.fetch(
        """SELECT id, agent_id, action, skill_name, input_data, output_data, status, timestamp
           FROM audit_logs
           WHERE ($1 = '' OR input_data->>'content_id' = $1 OR output_data->>'content_id' = $1)
             AND ($2 = '' OR agent_id = $2)
             AND ($3 = '' OR input_data->>'actor' = $3)
             AND ($4 = '' OR action LIKE $4 || '%')
             AND ($5::timestamptz IS NULL OR timestamp >= $5)
             AND ($6::timestamptz IS NULL OR timestamp <= $6)
           ORDER BY timestamp DESC LIMIT $7""",
        content_id,
        agent,
        actor,
        action,
        since,
        until,
        limit,
    )
    found = []
    for r in rows:
        row = dict(r)
        row["input_data"] = json.loads(r["input_data"]) if r["input_data"] else None
        row["output_data"] = json.loads(r["output_data"]) if r["output_data"] else None
        found.append(row)
    return found


async def audit_agents(conn: Executor) -> list[str]:
    """The agents (and the console) that have audit rows."""
    return [r[0] for r in await conn.fetch("SELECT DISTINCT agent_id FROM audit_logs ORDER BY 1")]


async def acknowledgements(conn: Executor, alert_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Alert event id -> who acknowledged it and when (only the acknowledged ones)."""
    return {
        str(r["alert_event_id"]): dict(r)
        for r in await conn.fetch(
            "SELECT * FROM alert_acknowledgements WHERE alert_event_id = ANY($1)", alert_ids
        )
    }


# --- items, for assistants (the MCP server's read-only tools and resources) ------------------
def jsonable(value: Any) -> Any:
    """Rows (and what nests in them) as JSON-ready data: times as ISO 8601, ids as text, JSON
    columns parsed."""
    if isinstance(value, asyncpg.Record | dict):
        return {
            key: json.loads(item)
            if isinstance(item, str) and key in _JSON_COLUMNS
            else jsonable(item)
            for key, item in dict(value).items()
        }
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


_JSON_COLUMNS = frozenset(
    {"metadata", "engagement_metrics", "input_data", "output_data", "last_error", "edits"}
)


async def content_items(
    conn: Executor, *, status: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest content items (optionally in one status), with their trend's title."""
    rows = await conn.fetch(
        """SELECT c.id, c.status, c.style, c.created_at, c.updated_at, c.trend_id,
                  t.title AS trend_title, c.metadata->>'title' AS title, c.local_path
           FROM content c LEFT JOIN trends t ON t.id = c.trend_id
           WHERE $1::text IS NULL OR c.status = $1
           ORDER BY c.created_at DESC, c.id LIMIT $2""",
        status,
        limit,
    )
    return [jsonable(r) for r in rows]


async def content_item(conn: Executor, content_id: str) -> dict[str, Any] | None:
    """`content_detail` (trend, workflow, review, refusals, publications) as JSON-ready
    data, its script parsed when it is one."""
    detail = await content_detail(conn, content_id)
    if detail is None:
        return None
    item: dict[str, Any] = jsonable(detail)
    with contextlib.suppress(json.JSONDecodeError):  # not JSON: kept as its text
        item["script"] = json.loads(detail["script"]) if detail["script"] else None
    return item


async def publication_items(
    conn: Executor,
    *,
    status: str | None = None,
    platform: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Publications, newest first (by publication, else schedule, time), narrowed by status,
    platform or time."""
    rows = await conn.fetch(
        """SELECT id, content_id, platform, status, title, url, post_id, published_at,
                  scheduled_at, attempt, last_error
           FROM publications
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR platform = $2)
             AND ($3::timestamptz IS NULL OR coalesce(published_at, scheduled_at) >= $3)
           ORDER BY coalesce(published_at, scheduled_at) DESC NULLS LAST, id LIMIT $4""",
        status,
        platform,
        since,
        limit,
    )
    return [jsonable(r) for r in rows]


async def publication_item(conn: Executor, publication_id: str) -> dict[str, Any] | None:
    """One publication with its engagement snapshots."""
    row = await conn.fetchrow("SELECT * FROM publications WHERE id = $1", publication_id)
    if row is None:
        return None
    item: dict[str, Any] = jsonable(row)
    series = await engagement_series(conn, [publication_id])
    item["engagement"] = jsonable(series[publication_id])
    return item


async def trend_items(
    conn: Executor, *, platform: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The fastest-growing trends (velocity), optionally of one platform."""
    rows = await conn.fetch(
        """SELECT id, platform, topic, title, velocity, fetched_at, url, tags FROM trends
           WHERE $1::text IS NULL OR platform = $1
           ORDER BY velocity DESC, id LIMIT $2""",
        platform,
        limit,
    )
    return [jsonable(r) for r in rows]


async def trend_item(conn: Executor, trend_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM trends WHERE id = $1", trend_id)
    return jsonable(row) if row is not None else None


async def audit_entry(conn: Executor, audit_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM audit_logs WHERE id = $1", audit_id)
    return jsonable(row) if row is not None else None


async def content_status(conn: Executor, content_id: str) -> str | None:
    value = await conn.fetchval("SELECT status FROM content WHERE id = $1", content_id)
    return str(value) if value is not None else None
