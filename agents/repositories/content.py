"""The `content` table: one row per piece of content, moved through its states.

    draft ──▶ generating ──▶ ready ─────────────(gate auto)──────────────▶ published
      ▲            │           │                                             ▲
      └─(retry)── failed       └─(gate required)─▶ awaiting_approval         │
                                                    │   ├─ approve ─▶ approved ┘
                                                    │   └─ reject ──▶ rejected
                                                    └─ expiry: reject (or approve, by policy)

`draft` (decided) -> `generating` -> `ready` | `failed`; a failed item may go back to `draft`
for another attempt. With the approval gate (`CHIMERA_POLICY_APPROVAL*`) a ready item whose
platforms need approval waits in `awaiting_approval` (its review row in `reviews`) until one
decision: `approved` (then `published` once a platform has it) or `rejected`. Content not
decided within `CHIMERA_POLICY_APPROVAL_EXPIRY_SECONDS` is decided by the expiry
(`CHIMERA_POLICY_APPROVAL_EXPIRY_ACTION`, reject by default). A second decision is refused
(`review_refusals`), never applied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.db import Conn

SETTABLE = frozenset({"script", "local_path", "metadata"})


async def insert_drafts(conn: Conn, rows: Sequence[tuple[str, str, dict[str, Any], str]]) -> None:
    """New `draft` rows of (id, style, metadata, trend_id)."""
    await conn.executemany(
        """INSERT INTO content (id, type, style, metadata, status, trend_id)
           VALUES ($1, 'video', $2, $3::jsonb, 'draft', $4)""",
        [(cid, style, json.dumps(meta), trend) for cid, style, meta, trend in rows],
    )


async def set_content_status(conn: Conn, content_id: str, status: str, **fields: Any) -> str | None:
    """Move a content row to `status` (and set other columns); returns the previous status."""
    previous = await conn.fetchval(
        "SELECT status FROM content WHERE id = $1 FOR UPDATE", content_id
    )
    assignments = ["status = $2", "updated_at = now()"]
    values: list[Any] = [content_id, status]
    for column, value in fields.items():
        if column not in SETTABLE:
            raise ValueError(f"cannot set content.{column}")
        values.append(json.dumps(value) if column == "metadata" else value)
        cast = "::jsonb" if column == "metadata" else ""
        assignments.append(f"{column} = ${len(values)}{cast}")
    await conn.execute(f"UPDATE content SET {', '.join(assignments)} WHERE id = $1", *values)
    return str(previous) if previous is not None else None


async def metadata(conn: Conn, content_id: str) -> dict[str, Any]:
    """The content's metadata (empty when it has none or does not exist)."""
    raw = await conn.fetchval("SELECT metadata FROM content WHERE id = $1", content_id)
    return dict(json.loads(raw)) if raw else {}
