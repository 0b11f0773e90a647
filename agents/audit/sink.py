"""The audit sink: AuditRecorded events into `audit_logs`, in batches, PII removed.

Idempotent on the audit id (the row's primary key): a replayed or duplicated event inserts
nothing (`agents.repositories.audit_logs`).
"""

from __future__ import annotations

import json
from typing import Any

from agents.repositories import audit_logs
from agents.runtime import Tx
from core.redact import redact
from events import AuditRecorded

AGENT = "audit"


def _row(event: AuditRecorded) -> tuple[Any, ...]:
    p = event.payload
    return (
        p.id,
        p.agent_id,
        p.action,
        p.skill_name,
        json.dumps(redact(p.input_data)),
        json.dumps(redact(p.output_data)),
        p.status,
        p.timestamp,
    )


async def store(events: list[AuditRecorded], tx: Tx) -> None:
    """Write a batch of audit events (duplicates within and across batches are dropped)."""
    await audit_logs.store(tx.conn, [_row(e) for e in events])
