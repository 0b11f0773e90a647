"""The `audit_logs` table: written in batches by the audit sink, idempotent on the audit id.

Rows go in with one COPY into a per-transaction staging table and one
INSERT ... ON CONFLICT DO NOTHING, so a batch costs a few round trips, not one per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.db import Conn

COLUMNS = (
    "id",
    "agent_id",
    "action",
    "skill_name",
    "input_data",
    "output_data",
    "status",
    "timestamp",
)


async def store(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows (values in `COLUMNS` order, JSON as text); duplicates are dropped."""
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS audit_stage
           (LIKE audit_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"""
    )
    await conn.copy_records_to_table("audit_stage", records=list(rows), columns=list(COLUMNS))
    await conn.execute(
        f"""INSERT INTO audit_logs ({", ".join(COLUMNS)})
            SELECT DISTINCT ON (id) {", ".join(COLUMNS)} FROM audit_stage
            ON CONFLICT (id) DO NOTHING"""
    )
