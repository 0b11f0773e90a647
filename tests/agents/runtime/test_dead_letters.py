"""Dead letters once per record and group, whatever dies when (real broker and database):
a process that died before sending sends the stored bytes on the redelivery; one that died
between the broker's ack and marking the row sent does not send it again."""

from __future__ import annotations

import json

import asyncpg

from agents.runtime import AgentRuntime, Subscription, Tx
from chimera.ops.offsets import reset_to_earliest
from core.records import headers_json
from core.settings import Settings
from events import Envelope, Topics, TrendDiscovered
from tests.support import produce, read_topic, wait_for


def refusing_agent(settings: Settings) -> AgentRuntime:
    async def never(event: Envelope, tx: Tx) -> None:  # every record here is poison
        raise AssertionError("not reached")

    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        "tester",
        settings,
        [Subscription("tester.trends", topics.trends, (TrendDiscovered,), in_tx=never)],
    )


async def test_a_dead_letter_in_doubt_is_sent_once(settings: Settings, pool: asyncpg.Pool) -> None:
    topics = Topics(settings.topic_prefix)
    dead_topic = Topics.dlq(topics.trends)
    await produce(settings, topics.trends, [(b"a", b"{poison a"), (b"b", b"{poison b")])
    runtime = refusing_agent(settings)
    async with runtime.running():
        first = await read_topic(settings, dead_topic, expect=2)
    assert sorted(r.value for r in first) == [b"{poison a", b"{poison b"]
    rows = await pool.fetch('SELECT topic, "partition", "offset" FROM dead_letters ORDER BY key')
    assert len(rows) == 2

    # a: the process died between the broker's ack and marking the row sent.
    # b: it died after writing the row, before sending: the row holds other bytes now.
    await pool.execute("UPDATE dead_letters SET sent_at = NULL")
    marked = [("x-stored", b"the bytes written before the crash")]
    await pool.execute(
        "UPDATE dead_letters SET headers = $1::jsonb, value = 'stored b' WHERE key = 'b'",
        headers_json(marked),
    )
    group = runtime.group
    # b's dead letter "was never sent": a consumer must not find it, so it is dropped from
    # what the lookup can see by moving the row's creation past it.
    await pool.execute(
        "UPDATE dead_letters SET created_at = now() + interval '1 hour' WHERE key = 'b'"
    )
    await reset_to_earliest(settings, group, [topics.trends])
    again = refusing_agent(settings)
    async with again.running():

        async def decided() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM dead_letters WHERE sent_at IS NULL") == 0
            )

        await wait_for(decided, what="both rows decided")
        letters = await read_topic(settings, dead_topic, expect=3)
    values = sorted(r.value for r in letters)
    assert values == [b"stored b", b"{poison a", b"{poison b"], "a once; b's stored bytes sent"
    resent = next(r for r in letters if r.value == b"stored b")
    assert [(k, v) for k, v in resent.headers] == marked
    stats = again.processors[0].stats
    assert stats.dead_lettered == 1 and stats.dead_letters_repeated == 1
    assert json.loads(await pool.fetchval("SELECT headers FROM dead_letters WHERE key = 'b'"))
