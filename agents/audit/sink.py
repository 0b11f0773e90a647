"""The audit sink: AuditRecorded events into `audit_logs`, in batches, PII removed.

Idempotent on the audit id (the row's primary key): a replayed or duplicated event inserts
nothing. Rows go in with one COPY into a per-transaction staging table and one
INSERT ... ON CONFLICT DO NOTHING, so a batch costs a few round trips, not one per row.
"""

from __future__ import annotations

import json
from typing import Any

from agents.runtime import Tx
from chimera.redact import redact
from events import AuditRecorded

AGENT = "audit"
COLUMNS = ("id", "agent_id", "action", "skill_name", "input_data", "output_data", "status",
           "timestamp")


def _row(event: AuditRecorded) -> tuple[Any, ...]:
    p = event.payload
    return (p.id, p.agent_id, p.action, p.skill_name,
            json.dumps(redact(p.input_data)), json.dumps(redact(p.output_data)),
            p.status, p.timestamp)


async def store(events: list[AuditRecorded], tx: Tx) -> None:
    """Write a batch of audit events (duplicates within and across batches are dropped)."""
    await tx.conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS audit_stage
           (LIKE audit_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS""")
    await tx.conn.copy_records_to_table("audit_stage", records=[_row(e) for e in events],
                                        columns=list(COLUMNS))
    await tx.conn.execute(
        f"""INSERT INTO audit_logs ({", ".join(COLUMNS)})
            SELECT DISTINCT ON (id) {", ".join(COLUMNS)} FROM audit_stage
            ON CONFLICT (id) DO NOTHING""")
