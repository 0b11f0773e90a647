"""The audit sink on the real broker and database: batches, idempotence, PII removed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg

from agents.audit.app import build
from core.settings import Settings
from events import AuditRecorded, Topics, encode
from events.catalog import AuditPayload
from tests.support import produce, wait_for


def audit_event(n: int, **payload: object) -> AuditRecorded:
    data = {
        "id": f"audit-{n}",
        "agent_id": "generate",
        "action": "skill:skill_write_script",
        "skill_name": "skill_write_script",
        "input_data": {"n": n},
        "output_data": {"ok": True},
        "status": "success",
        "timestamp": datetime.now(UTC).isoformat(),
        **payload,
    }
    return AuditRecorded.create(
        AuditPayload.model_validate(data, strict=False),
        producer="test",
        correlation_id=uuid.uuid4(),
    )


async def test_audit_events_land_once_with_pii_removed(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    events = [audit_event(n) for n in range(300)]
    leaky = audit_event(
        1000,
        input_data={
            "headers": {"Authorization": "Bearer abc.def.ghijklmnop"},
            "note": "call +44 20 7946 0958 or mail ann@example.com",
            "url": "https://www.googleapis.com/youtube/v3/videos?part=id&key=AIzaSyA"
            "1234567890abcdefghijklmnopqrstuv",
        },
        output_data={"api_key": "sk-live-0123456789abcdefghij", "token": "t0k3n-value"},
    )
    duplicate = events[:50]  # delivered twice (a producer retry, a replay)
    messages = [(b"generate", encode(e)) for e in [*events, leaky, *duplicate]]
    runtime = build(settings, max_records=128)
    async with runtime.running():
        await produce(settings, topics.audit, messages)

        async def stored() -> bool:
            stats = runtime.stats()["audit.sink"]
            return stats["processed"] >= len(messages)

        await wait_for(stored, what="every audit event consumed")

    assert await pool.fetchval("SELECT count(*) FROM audit_logs") == 301
    row = await pool.fetchrow("SELECT * FROM audit_logs WHERE id = 'audit-1000'")
    stored_text = json.dumps([json.loads(row["input_data"]), json.loads(row["output_data"])])
    for secret in (
        "abc.def.ghijklmnop",
        "7946 0958",
        "ann@example.com",
        "AIzaSyA1234",
        "sk-live-0123456789",
        "t0k3n-value",
    ):
        assert secret not in stored_text
    assert "[REDACTED]" in stored_text and "[EMAIL]" in stored_text and "[PHONE]" in stored_text
    assert row["agent_id"] == "generate" and row["status"] == "success"
