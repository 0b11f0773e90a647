"""Every MCP tool call as an audit entry: `AuditRecorded` on the audit topic, which the audit
sink stores in `audit_logs` like every agent's entries.

An entry names the tool (`action` = `mcp:<tool>`, `skill_name` for skill tools), the caller
(name, role, transport, token id: never the token), the arguments and the outcome, with PII and
secrets removed (`core.redact`) before they leave the process. Ids are derived, never drawn:
the row id from the call's key and phase, the event id from the row id, so a resend of the
same entry is one row. A call's key is the id of what it does when it does something (the
injected trend's event, the review decision, the publication request: the same request twice
is one effect and one entry) and a fresh id per call otherwise.

A call that changes something is audited twice: `pending` before it acts (if that cannot be
written, nothing is done) and `success`/`failure` after; a read is audited once, after. Each
entry is acknowledged by the broker (acks=all, idempotent producer) before the caller gets
an answer.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from chimera.mcp.caller import Caller
from core.ids import derived_id
from core.redact import redact
from events import AuditRecorded, Topics, encode
from events.catalog import AuditPayload, audit_id

AGENT = "mcp"
#: Outputs bigger than this are summarised in the audit entry, not copied.
MAX_OUTPUT_BYTES = 16_000


def _summary(result: Any) -> Any:
    text = json.dumps(result, default=str)
    if len(text) <= MAX_OUTPUT_BYTES:
        return result
    keys = sorted(result) if isinstance(result, dict) else None
    return {"truncated": True, "bytes": len(text), "keys": keys}


class McpAuditor:
    """Sends the MCP server's audit entries through the server's producer."""

    def __init__(self, producer: AIOKafkaProducer, topics: Topics) -> None:
        self.producer = producer
        self.topics = topics

    async def record(
        self,
        *,
        caller: Caller | None,
        tool: str,
        key: uuid.UUID,
        status: Literal["pending", "success", "failure"],
        arguments: dict[str, Any],
        facts: dict[str, Any] | None = None,
        result: Any = None,
        error: dict[str, Any] | None = None,
        skill_name: str | None = None,
        duration_s: float | None = None,
    ) -> str:
        """Write one entry (acknowledged by the broker); returns its row id."""
        row_id = audit_id(AGENT, tool, key, status if status == "pending" else "done")
        now = datetime.now(UTC)
        payload = AuditPayload.model_validate(
            {
                "id": row_id,
                "agent_id": AGENT,
                "action": f"mcp:{tool}",
                "skill_name": skill_name,
                "input_data": redact(
                    {
                        "caller": caller.as_audit() if caller is not None else None,
                        "arguments": arguments,
                        **(facts or {}),
                    }
                ),
                "output_data": redact(
                    None
                    if status == "pending"
                    else {
                        "result": _summary(result),
                        "error": error,
                        "duration_s": round(duration_s, 3) if duration_s is not None else None,
                    }
                ),
                "status": status,
                "timestamp": now.isoformat(),
            },
            strict=False,
        )
        event_id = derived_id("audit-event", row_id)
        event = AuditRecorded(
            event_id=event_id,
            event_type=AuditRecorded.EVENT_TYPE,
            occurred_at=now,
            producer=AGENT,
            correlation_id=key,
            payload=payload,
        )
        await self.producer.send_and_wait(
            self.topics.audit,
            encode(event),
            key=AGENT.encode(),
            headers=[("event_type", AuditRecorded.EVENT_TYPE.encode())],
        )
        return row_id
