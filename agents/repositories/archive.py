"""What the content archive records about a published item, read from the tables (nothing
here writes): the content row, its trend, its published publications and who approved it.

Who approved it comes from the content's metadata (`approval` / `approved_by`, as the approval
gate may record it) or from the audit trail: a successful audit entry whose action is one of
`APPROVAL_ACTIONS` for that content id. The gate's own action name goes in that tuple; the MCP
server's `approve_content` is there already (its audit entry names the reviewer as `actor`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.repositories.trends import trend_payload
from core.db import Conn

#: Audit actions that record a person's approval of a content item.
APPROVAL_ACTIONS = ("review:approved", "content:approved", "mcp:approve_content")


@dataclass(frozen=True)
class ArchiveRecord:
    """A content item as the archive keeps it (JSON-ready values)."""

    content_id: str
    title: str
    script: Any
    metadata: dict[str, Any]
    trend: dict[str, Any] | None
    publications: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    assets: list[dict[str, Any]]


def _approvals_in(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    found = metadata.get("approval") or metadata.get("approved_by")
    items = found if isinstance(found, list) else [found] if found else []
    approvals: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            approvals.append({"actor": item, "recorded_by": "metadata"})
        elif isinstance(item, dict) and isinstance(item.get("actor"), str):
            approvals.append(
                {
                    "actor": item["actor"],
                    "decided_at": item.get("decided_at"),
                    "reason": str(item.get("reason") or ""),
                    "recorded_by": "metadata",
                }
            )
    return approvals


async def approvals(conn: Conn, content_id: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Who approved the content: its metadata's record, else the audit trail's."""
    recorded = _approvals_in(metadata)
    if recorded:
        return recorded
    rows = await conn.fetch(
        """SELECT DISTINCT ON (actor) actor, decided_at, reason FROM (
               SELECT coalesce(input_data->>'actor', input_data->'caller'->>'name') AS actor,
                      coalesce(input_data->>'decided_at', "timestamp"::text) AS decided_at,
                      coalesce(input_data->>'reason', '') AS reason, "timestamp"
               FROM audit_logs
               WHERE action = ANY($2::text[]) AND status = 'success'
                 AND input_data->>'content_id' = $1) found
           WHERE actor IS NOT NULL ORDER BY actor, "timestamp" DESC""",
        content_id,
        list(APPROVAL_ACTIONS),
    )
    return [
        {
            "actor": r["actor"],
            "decided_at": r["decided_at"],
            "reason": r["reason"],
            "recorded_by": "audit",
        }
        for r in rows
    ]


async def record(conn: Conn, content_id: str) -> ArchiveRecord | None:
    """The archive's view of a content item, or None when the content does not exist."""
    row = await conn.fetchrow(
        "SELECT id, script, metadata, trend_id FROM content WHERE id = $1", content_id
    )
    if row is None:
        return None
    metadata = dict(json.loads(row["metadata"])) if row["metadata"] else {}
    try:
        script = json.loads(row["script"]) if row["script"] else None
    except json.JSONDecodeError:
        script = row["script"]
    published = await conn.fetch(
        """SELECT id, platform, url, post_id, published_at, title FROM publications
           WHERE content_id = $1 AND status = 'published' ORDER BY platform""",
        content_id,
    )
    title = metadata.get("title") or (published[0]["title"] if published else content_id)
    assets = metadata.get("assets")
    return ArchiveRecord(
        content_id=content_id,
        title=str(title),
        script=script,
        metadata=metadata,
        trend=await trend_payload(conn, row["trend_id"]) if row["trend_id"] else None,
        publications=[
            {
                "publication_id": p["id"],
                "platform": p["platform"],
                "url": p["url"] or "",
                "post_id": p["post_id"] or None,
                "published_at": p["published_at"].isoformat() if p["published_at"] else "",
            }
            for p in published
        ],
        approvals=await approvals(conn, content_id, metadata),
        assets=[a for a in assets if isinstance(a, dict)] if isinstance(assets, list) else [],
    )
