"""Every console action as an AuditRecorded event on the audit topic (the audit sink stores
it in `audit_logs`), with the user's name as `actor` in its input.

Ids are derived (core.ids.derived_id) from the action and what it acted on, plus the nonce
of the form that asked for it, so a form sent twice is one audit row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from core.ids import derived_id
from core.redact import redact
from events import AuditRecorded, Topics, encode
from events.catalog import AuditPayload, audit_id

AGENT = "console"


async def record(
    producer: AIOKafkaProducer,
    topics: Topics,
    action: str,
    *,
    actor: str,
    key: str,
    input_data: dict[str, Any] | None = None,
    output_data: Any = None,
    status: Literal["success", "failure", "pending"] = "success",
) -> None:
    """Send one audit event and wait for the broker's acknowledgement (acks=all)."""
    row_id = audit_id(AGENT, action, actor, key)
    payload = AuditPayload(
        id=row_id,
        agent_id=AGENT,
        action=action,
        input_data=redact({"actor": actor, **(input_data or {})}),
        output_data=redact(output_data),
        status=status,
        timestamp=datetime.now(UTC),
    )
    event = AuditRecorded.create(
        payload, producer=AGENT, event_id=derived_id("audit-event", row_id)
    )
    await producer.send_and_wait(topics.audit, encode(event), key=AGENT.encode())
