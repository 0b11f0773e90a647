"""The outbox relay's housekeeping on the real database: only old, sent rows are pruned."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from agents.runtime.relay import OutboxRelay


async def test_prune_deletes_only_sent_rows_past_retention(pool: asyncpg.Pool) -> None:
    async def row(agent: str, sent_hours_ago: float | None, created_hours_ago: float) -> None:
        await pool.execute(
            """INSERT INTO outbox (agent, event_id, event_type, topic, key, value, created_at,
                                   sent_at)
               VALUES ($1, $2, 'AuditRecorded', 't', 'k', '\\x00',
                       now() - make_interval(secs => $3),
                       CASE WHEN $4::float8 IS NULL THEN NULL
                            ELSE now() - make_interval(secs => $4::float8) END)""",
            agent,
            uuid.uuid4(),
            created_hours_ago * 3600,
            None if sent_hours_ago is None else sent_hours_ago * 3600,
        )

    for _ in range(3):
        await row("orchestrator", 200, 201)  # sent long ago: pruned
    await row("orchestrator", 1, 2)  # sent recently: kept
    await row("orchestrator", None, 300)  # never sent: kept, whatever its age
    await row("publish", 200, 201)  # another agent's: not this relay's business
    producer: Any = None  # pruning never produces
    relay = OutboxRelay(pool, producer, "orchestrator", retention_hours=168)
    async with pool.acquire() as conn:
        assert await relay.prune(conn, batch=2) == 3
        assert await relay.prune(conn) == 0
    left = await pool.fetch("SELECT agent, sent_at IS NULL AS unsent FROM outbox ORDER BY id")
    assert [(r["agent"], r["unsent"]) for r in left] == [
        ("orchestrator", False),
        ("orchestrator", True),
        ("publish", False),
    ]
