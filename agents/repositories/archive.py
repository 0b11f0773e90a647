"""What the content archive records about a published item, read from the tables (nothing
here writes): the content row, its trend, its published publications and who approved it
(the approval gate's review: the reviewer, or the expiry, with the time and the reason; none
when the policy published without asking).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.repositories import reviews
from agents.repositories.trends import trend_payload
from core.db import Conn


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


async def approvals(conn: Conn, content_id: str) -> list[dict[str, Any]]:
    """Who approved the content at the approval gate (empty: nobody was asked)."""
    review = await reviews.get(conn, content_id)
    if review is None or review.status != "approved" or review.decided_by is None:
        return []
    return [
        {
            "actor": review.decided_by,
            "decided_at": review.decided_at.isoformat() if review.decided_at else None,
            "reason": review.reason or "",
            "recorded_by": "expiry" if review.expired else "review",
        }
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
        approvals=await approvals(conn, content_id),
        assets=[a for a in assets if isinstance(a, dict)] if isinstance(assets, list) else [],
    )
