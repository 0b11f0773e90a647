"""SIGKILL an agent process mid-batch, restart it: every input ends in exactly one outcome."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import asyncpg

from core.credentials import process_env
from core.settings import Settings
from events import Topics, TrendDiscovered, decode, encode
from tests.support import produce, read_topic, trend, wait_for

N = 1500


def start_agent(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **process_env(settings),
        "CHIMERA_STATE_DIR": str(settings.state_dir),
        "CHIMERA_POLICY_DAILY_BUDGET": '{"local": 100000}',
    }
    return subprocess.Popen(
        [sys.executable, "-m", "chimera.cli", "agent", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_sigkill_mid_batch_then_restart_loses_and_duplicates_nothing(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    events = [
        TrendDiscovered.create(trend(n, id=f"feed:crash-{n}"), producer="test") for n in range(N)
    ]
    agent = start_agent(settings, "orchestrator")
    try:
        await produce(
            settings,
            topics.trends,
            [(e.payload.id.encode(), encode(e)) for e in events],
        )

        async def some_but_not_all() -> bool:
            done = await pool.fetchval("SELECT count(*) FROM workflows")
            return bool(N // 10 <= done < N)

        await wait_for(some_but_not_all, timeout=60, what="the agent mid-way")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        killed_at = await pool.fetchval("SELECT count(*) FROM workflows")
        assert killed_at < N, "the agent finished before it could be killed"

        agent = start_agent(settings, "orchestrator")

        async def all_done() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM workflows") == N
                and await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
            )

        await wait_for(all_done, timeout=120, what="every trend decided after the restart")
    finally:
        agent.send_signal(signal.SIGTERM)
        await asyncio.to_thread(agent.wait, 30)

    assert await pool.fetchval("SELECT count(*) FROM content") == N
    assert await pool.fetchval("SELECT count(*) FROM inbox") == N
    assert await pool.fetchval("SELECT count(DISTINCT trend_id) FROM workflows") == N
    requested = await read_topic(settings, topics.content_requests, expect=N, timeout=60)
    ids = Counter(decode(r.value).event_id for r in requested)
    # Exactly one ContentRequested per trend. The relay is at-least-once on the wire: a copy
    # can only be a byte-identical re-send of the same event id, which consumers drop.
    assert len(ids) == N
    by_id = {}
    for record in requested:
        event = decode(record.value)
        assert by_id.setdefault(event.event_id, record.value) == record.value
    assert {decode(r.value).payload.trend.id for r in requested} == {e.payload.id for e in events}
