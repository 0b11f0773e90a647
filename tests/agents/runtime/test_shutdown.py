"""SIGTERM an agent process mid-batch: it stops within its deadline, exits 0, commits exactly
what it processed; after a restart every input has exactly one outcome."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from agents.runtime import AgentRuntime, Subscription
from agents.runtime.topics import ensure_topics
from core.credentials import process_env
from core.kafka import client_options, make_producer
from core.observability import ObservabilitySettings
from core.settings import Settings
from events import Envelope, Topics, TrendDiscovered, decode, encode
from tests.support import read_topic, trend, wait_for

N = 6000
DEADLINE_S = 15.0


def start_agent(settings: Settings, name: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **process_env(settings),
        "CHIMERA_STATE_DIR": str(settings.state_dir),
        "CHIMERA_POLICY_DAILY_BUDGET": '{"local": 100000}',
        "CHIMERA_SHUTDOWN_TIMEOUT_S": str(DEADLINE_S),
        "CHIMERA_LOG_FORMAT": "json",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "chimera.cli", "agent", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


async def produce_fast(settings: Settings, topic: str, events: list[TrendDiscovered]) -> None:
    producer = make_producer(settings, client_id="test-shutdown")
    await producer.start()
    try:
        sent = [await producer.send(topic, encode(e), key=e.payload.id.encode()) for e in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def committed_offsets(settings: Settings, group: str, topic: str) -> int:
    """The sum over `topic`'s partitions of `group`'s committed offsets."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def test_sigterm_mid_batch_stops_in_time_and_commits_only_what_was_done(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    topics = Topics(settings.topic_prefix)
    group = f"{settings.topic_prefix}.orchestrator"
    log = tmp_path / "agent.log"
    events = [
        TrendDiscovered.create(trend(n, id=f"feed:term-{n}"), producer="test") for n in range(N)
    ]
    # Everything is on the topic before the agent starts, so it is busy from its first poll.
    await ensure_topics(settings)
    await produce_fast(settings, topics.trends, events)
    agent = start_agent(settings, "orchestrator", log)
    try:

        async def some_but_not_all() -> bool:
            done = await pool.fetchval("SELECT count(*) FROM workflows")
            return bool(0 < done < N // 2)

        await wait_for(some_but_not_all, timeout=90, what="the agent mid-way")
        agent.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await asyncio.to_thread(agent.wait, DEADLINE_S + 15)
        stopped_after = time.monotonic() - signalled
        assert code == 0, log.read_text()[-3000:]
        assert stopped_after < DEADLINE_S + 10, stopped_after

        done = await pool.fetchval("SELECT count(*) FROM workflows")
        assert done < N, "the agent finished before it could be stopped"
        # The offsets committed are exactly those of the records processed: nothing
        # unprocessed was committed, nothing processed was left uncommitted.
        assert await pool.fetchval("SELECT count(*) FROM inbox") == done
        assert await committed_offsets(settings, group, topics.trends) == done
        # A clean stop sends everything it committed before it exits.
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

        agent = start_agent(settings, "orchestrator", log)

        async def all_done() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM workflows") == N
                and await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
            )

        await wait_for(all_done, timeout=120, what="every trend decided after the restart")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(agent.wait, DEADLINE_S + 15) == 0

    assert await committed_offsets(settings, group, topics.trends) == N
    assert await pool.fetchval("SELECT count(*) FROM content") == N
    assert await pool.fetchval("SELECT count(*) FROM inbox") == N
    assert await pool.fetchval("SELECT count(DISTINCT trend_id) FROM workflows") == N
    requested = await read_topic(settings, topics.content_requests, expect=N, timeout=60)
    # One ContentRequested per trend and not one more (a clean stop re-sends nothing).
    assert len(requested) == N
    assert {decode(r.value).payload.trend.id for r in requested} == {e.payload.id for e in events}

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    stopping = [line for line in lines if "stopping: no new batches" in line["message"]]
    assert len(stopping) == 2 and all(line["agent"] == "orchestrator" for line in stopping)


async def test_work_past_the_deadline_is_handed_back_uncommitted(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """In-process, through the same stop path as SIGTERM (FastStream's graceful stop, then the
    lifespan): a handler still busy at the deadline is cancelled, nothing of it commits, and
    the next run of the agent gets the record again and handles it once."""
    topics = Topics(settings.topic_prefix)
    event = TrendDiscovered.create(trend(1, id="feed:slow"), producer="test")
    started = asyncio.Event()

    async def never_done(event: Envelope[Any], rt: AgentRuntime) -> None:
        started.set()
        async with rt.transaction() as tx:
            await tx.claim("slow.trends", event)
            await tx.audit("slow", cause=event)
            await asyncio.sleep(3600)  # still inside the transaction at the deadline

    async def quick(event: Envelope[Any], rt: AgentRuntime) -> None:
        async with rt.transaction() as tx:
            if await tx.claim("slow.trends", event):
                await tx.audit("quick", cause=event)

    def agent(handler: Any) -> AgentRuntime:
        return AgentRuntime(
            "slow",
            settings,
            [
                Subscription(
                    "slow.trends", topics.trends, (TrendDiscovered,), long=handler, max_records=1
                ),
            ],
            observability=ObservabilitySettings(shutdown_timeout_s=1.0),
        )

    await ensure_topics(settings)
    await produce_fast(settings, topics.trends, [event])
    runtime = agent(never_done)
    async with runtime.running():
        await asyncio.wait_for(started.wait(), 30)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 1.0 + 5.0
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await committed_offsets(settings, runtime.group, topics.trends) == 0

    again = agent(quick)
    async with again.running():

        async def handled() -> bool:
            return bool(
                await pool.fetchval("SELECT count(*) FROM inbox") == 1
                and await committed_offsets(settings, again.group, topics.trends) == 1
            )

        await wait_for(handled, timeout=30, what="the handed-back record handled")
    assert again.stats()["slow.trends"] == {
        "processed": 1,
        "duplicates": 0,
        "dead_lettered": 0,
        "retries": 0,
    }
    audits = await pool.fetch("SELECT value FROM outbox WHERE event_type = 'AuditRecorded'")
    assert [decode(r["value"]).payload.action for r in audits] == ["quick"]
