"""The orchestrator's handlers on a real transaction, without a broker: fast and direct."""

from __future__ import annotations

import asyncpg

from agents.orchestrator import handlers
from agents.orchestrator.policy import Policy
from agents.runtime.store import transaction
from events import Topics, TrendDiscovered
from tests.support import trend

TOPICS = Topics("handlers")


async def _outbox(pool: asyncpg.Pool) -> list[str]:
    return [r[0] for r in await pool.fetch("SELECT event_type FROM outbox ORDER BY id")]


async def test_a_batch_of_trends_is_decided_in_one_transaction(pool: asyncpg.Pool) -> None:
    events = [TrendDiscovered.create(trend(n), producer="t") for n in (1, 2)]
    events.append(TrendDiscovered.create(trend(3, tags=["spam"]), producer="t"))
    async with transaction(pool, handlers.AGENT, TOPICS) as tx:
        await handlers.on_trends_discovered(events, tx, Policy(deny_tags=["spam"]))
    states = dict(await pool.fetch("SELECT trend_id, state FROM workflows"))
    assert states == {
        "feed:item-1": "generating",
        "feed:item-2": "generating",
        "feed:item-3": "rejected",
    }
    assert await pool.fetchval("SELECT count(*) FROM content WHERE status = 'draft'") == 2
    assert (await _outbox(pool)).count("ContentRequested") == 2
    assert dict(await pool.fetch("SELECT platform, used FROM budget_usage")) == {"local": 2}


async def test_the_same_decision_twice_makes_the_same_ids(pool: asyncpg.Pool) -> None:
    event = TrendDiscovered.create(trend(1), producer="t")
    async with transaction(pool, handlers.AGENT, TOPICS) as tx:
        await handlers.on_trends_discovered([event], tx, Policy())
    first = await pool.fetchval("SELECT event_id FROM outbox WHERE event_type = 'ContentRequested'")
    content_id = await pool.fetchval("SELECT id FROM content")
    await pool.execute("TRUNCATE content, workflows, outbox, budget_usage CASCADE")
    async with transaction(pool, handlers.AGENT, TOPICS) as tx:
        await handlers.on_trends_discovered([event], tx, Policy())
    assert await pool.fetchval("SELECT id FROM content") == content_id
    assert (
        await pool.fetchval("SELECT event_id FROM outbox WHERE event_type = 'ContentRequested'")
        == first
    )


async def test_a_rolled_back_transaction_leaves_nothing(pool: asyncpg.Pool) -> None:
    event = TrendDiscovered.create(trend(1), producer="t")

    class Boom(Exception):
        pass

    try:
        async with transaction(pool, handlers.AGENT, TOPICS) as tx:
            await handlers.on_trends_discovered([event], tx, Policy())
            raise Boom
    except Boom:
        pass
    for table in ("workflows", "content", "outbox", "budget_usage"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
