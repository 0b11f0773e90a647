"""Pipeline benchmark: injected trends through the orchestrator vs. two baselines.

    python -m bench.pipeline [--n 20000] [--latency-n 2000] [--rate 200] [--repeat 3]

Throughput: N TrendDiscovered events are put on the trends topic first; then the orchestrator
(inbox, policy queries, content + workflow rows, outbox with ContentRequested and audit
events, relay to Kafka) drains them; events/s is the pace from the first committed decision to
the N-th (the consumer group's join, alike for every variant, left out).
Baselines, same run, same events, no framework:
- `raw`: a plain aiokafka consumer + asyncpg `executemany` of one row per event per batch,
  offsets committed per batch (no inbox, no outbox: a floor, not the same work);
- `same_semantics`: a hand-written aiokafka loop that decodes with the contract models and
  calls the orchestrator's batch handler in the unit of work (inbox claimed, trends upserted,
  topics locked, cooldown and budget read, content and workflow rows, budget spent, three
  outbox rows per trend: ContentRequested and two AuditRecorded), commits offsets after the
  transaction, and a hand-written relay sending the outbox in id order and marking it sent.
  The same rows by the same code; what Chimera adds beyond it is the framework (FastStream,
  the batch guard, spans, metrics, the per-record fallback machinery).
Latency: `--latency-n` events injected at `--rate`/s while each consumer runs; latency is
from the event's `occurred_at` to its committed decision row (p50, p99).
Each variant runs `--repeat` times (tables emptied between runs); one JSON line with the
medians and the ratios of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from agents.orchestrator.app import build
from agents.orchestrator.handlers import on_trends_discovered
from agents.orchestrator.policy import Policy
from agents.runtime.lifecycle import freeze_startup_objects
from agents.runtime.store import transaction
from agents.runtime.topics import ensure_topics
from bench.common import Pace, bench_env, emit, machine, median, percentile, produce_all
from core.kafka import client_options, make_producer
from core.settings import Settings
from events import Topics, Trend, TrendDiscovered, decode, encode

POLICY = Policy(daily_budget={"local": 10**9}, topic_cooldown_hours=0)


def make_events(n: int, tag: str) -> list[TrendDiscovered]:
    now = datetime.now(UTC)
    return [
        TrendDiscovered.create(
            Trend.model_validate(
                {
                    "id": f"bench:{tag}:{i}",
                    "platform": "feed",
                    "topic": f"{tag} topic {i}",
                    "title": f"Trend {i}",
                    "description": "benchmark",
                    "velocity": float(i % 500),
                    "engagement_metrics": {
                        "views": i,
                        "likes": 0,
                        "comments": 0,
                        "shares": 0,
                        "engagement_rate": 0.0,
                    },
                    "timestamp": now.isoformat(),
                    "url": f"https://example.org/{i}",
                    "tags": ["bench"],
                },
                strict=False,
            ),
            producer="bench",
        )
        for i in range(n)
    ]


def messages(events: list[TrendDiscovered]) -> list[tuple[bytes, bytes]]:
    return [(e.payload.id.encode(), encode(e)) for e in events]


async def paced(settings: Settings, topic: str, events: list[TrendDiscovered], rate: float) -> None:
    """Send events at `rate`/s, stamping occurred_at at send time."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    began = time.perf_counter()
    try:
        for i, event in enumerate(events):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            stamped = event.model_copy(update={"occurred_at": datetime.now(UTC)})
            await producer.send(topic, encode(stamped), key=event.payload.id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_rows(pool: asyncpg.Pool, sql: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await pool.fetchval(sql) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {await pool.fetchval(sql)} of {n} after {timeout}s")
        await asyncio.sleep(0.05)


async def steady_seconds(
    pool: asyncpg.Pool, sql: str, n: int, timeout: float = 900
) -> tuple[float, float]:
    """(wall, CPU) seconds for `n` rows at the pace from the first committed row to the n-th
    (`bench.common.Pace`)."""
    pace = Pace(n)
    first = 0
    while not first:
        first = await pool.fetchval(sql)
        await asyncio.sleep(0.01)
    pace.start(first)
    await wait_rows(pool, sql, n, timeout=timeout)
    return pace.stop()


async def latencies(pool: asyncpg.Pool, table: str, prefix: str) -> list[float]:
    rows = await pool.fetch(
        f"SELECT extract(epoch FROM created_at - occurred_at) * 1000 AS ms FROM {table} "
        f"WHERE trend_id LIKE $1",
        prefix + "%",
    )
    return [float(r["ms"]) for r in rows]


async def stamp_decisions(pool: asyncpg.Pool) -> None:
    """Stamp each decision with the wall clock of its insert, not the transaction start."""
    await pool.execute(
        """CREATE OR REPLACE FUNCTION bench_stamp() RETURNS trigger AS $$ BEGIN
             NEW.created_at := clock_timestamp(); RETURN NEW; END $$ LANGUAGE plpgsql;
           DROP TRIGGER IF EXISTS bench_stamp ON workflows;
           CREATE TRIGGER bench_stamp BEFORE INSERT ON workflows
             FOR EACH ROW EXECUTE FUNCTION bench_stamp();"""
    )


async def decision_latencies(
    settings: Settings, pool: asyncpg.Pool, topic: str, prefix: str
) -> list[float]:
    """ms from each paced event's `occurred_at` (stamped when sent) to its decision row."""
    stamps = await _stamps_from_topic(settings, topic, prefix)
    rows = await pool.fetch(
        "SELECT trend_id, created_at FROM workflows WHERE trend_id LIKE $1", prefix + "%"
    )
    return [(r["created_at"] - stamps[r["trend_id"]]).total_seconds() * 1000 for r in rows]


# --- the pipeline (the orchestrator agent) ---------------------------------------------------
async def run_pipeline(
    settings: Settings, pool: asyncpg.Pool, n: int, latency_n: int, rate: float
) -> dict[str, Any]:
    topics = Topics(settings.topic_prefix)
    await produce_all(settings, topics.trends, messages(make_events(n, "tp")))
    runtime = build(settings, POLICY)
    await stamp_decisions(pool)
    async with runtime.running():
        freeze_startup_objects()  # as `chimera agent` does once the agent started
        return await measure(settings, pool, n, latency_n, rate, "lp")


async def measure(
    settings: Settings, pool: asyncpg.Pool, n: int, latency_n: int, rate: float, tag: str
) -> dict[str, Any]:
    """With a consumer running on the trends topic (N events there): seconds until N
    decisions and until their 3N outbox rows are sent; then the latency of `latency_n`
    events sent at `rate`/s (tagged `bench:<tag>:`)."""
    topic = Topics(settings.topic_prefix).trends
    began = time.perf_counter()
    elapsed, cpu = await steady_seconds(pool, "SELECT count(*) FROM workflows", n)
    await wait_rows(
        pool, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL", 3 * n, timeout=300
    )
    relay_elapsed = time.perf_counter() - began
    await paced(settings, topic, make_events(latency_n, tag), rate)
    await wait_rows(pool, "SELECT count(*) FROM workflows", n + latency_n, timeout=300)
    # The paced sender stamped occurred_at at send time; match decisions by trend id.
    lat = await decision_latencies(settings, pool, topic, f"bench:{tag}:")
    return {
        "events_per_s": round(n / elapsed, 1),
        "events_per_cpu_s": round(n / cpu, 1),  # this process's CPU (the agent runs in it)
        "seconds": round(elapsed, 2),
        "seconds_until_all_relayed": round(relay_elapsed, 2),
        "p50_ms": round(percentile(lat, 0.5), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
    }


async def _stamps_from_topic(settings: Settings, topic: str, prefix: str) -> dict[str, datetime]:
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"stamps-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    stamps: dict[str, datetime] = {}
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    if r.key and r.key.decode().startswith(prefix):
                        raw = json.loads(r.value)
                        stamps[raw["payload"]["id"]] = datetime.fromisoformat(raw["occurred_at"])
    finally:
        await consumer.stop()
    return stamps


# --- the baseline ----------------------------------------------------------------------------
async def run_baseline(
    settings: Settings, pool: asyncpg.Pool, n: int, latency_n: int, rate: float
) -> dict[str, Any]:
    topic = f"{settings.topic_prefix}.baseline"
    await pool.execute(
        """CREATE TABLE baseline_decisions (trend_id TEXT PRIMARY KEY, topic TEXT NOT NULL,
               velocity FLOAT NOT NULL, occurred_at TIMESTAMPTZ NOT NULL,
               created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"""
    )
    await produce_all(settings, topic, messages(make_events(n, "tb")))
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"{settings.topic_prefix}.baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            rows = []
            for records in batch.values():
                for r in records:
                    raw = json.loads(r.value)
                    p = raw["payload"]
                    rows.append(
                        (
                            p["id"],
                            p["topic"],
                            float(p["velocity"]),
                            datetime.fromisoformat(raw["occurred_at"]),
                        )
                    )
            if rows:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.executemany(
                        """INSERT INTO baseline_decisions (trend_id, topic, velocity, occurred_at)
                           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                        rows,
                    )
                await consumer.commit()

    task = asyncio.create_task(consume())
    try:
        elapsed, cpu = await steady_seconds(pool, "SELECT count(*) FROM baseline_decisions", n)
        await paced(settings, topic, make_events(latency_n, "lb"), rate)
        await wait_rows(pool, "SELECT count(*) FROM baseline_decisions", n + latency_n, 300)
    finally:
        stop.set()
        await task
        await consumer.stop()
    lat = await latencies(pool, "baseline_decisions", "bench:lb:")
    return {
        "events_per_s": round(n / elapsed, 1),
        "events_per_cpu_s": round(n / cpu, 1),  # this process's CPU (the agent runs in it)
        "seconds": round(elapsed, 2),
        "p50_ms": round(percentile(lat, 0.5), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
    }


# --- the same-semantics baseline: the orchestrator's rows without the framework -------------
SAME = "baseline"  # its outbox rows' agent and its inbox consumer


async def relay_by_hand(
    pool: asyncpg.Pool, producer: Any, wake: asyncio.Event, stop: asyncio.Event
) -> None:
    """Send the baseline's outbox rows in id order, 500 at a time, then mark them sent."""
    while True:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT id, topic, key, value, headers FROM outbox
                   WHERE agent = $1 AND sent_at IS NULL ORDER BY id LIMIT 500""",
                SAME,
            )
            if rows:
                acks = [
                    await producer.send(
                        r["topic"],
                        r["value"],
                        key=r["key"].encode(),
                        headers=[(k, v.encode()) for k, v in json.loads(r["headers"]).items()],
                    )
                    for r in rows
                ]
                await asyncio.gather(*acks)
                await conn.execute(
                    "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in rows],
                )
                continue
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), 0.2)
        wake.clear()


async def run_same_semantics(
    settings: Settings, pool: asyncpg.Pool, n: int, latency_n: int, rate: float
) -> dict[str, Any]:
    """A hand-written aiokafka loop calling the orchestrator's own batch handler in the unit
    of work (`Tx`: inbox claimed in one round trip, state, outbox), committing offsets after
    the transaction, and a hand-written relay: the same rows and events by the same code,
    without FastStream and Chimera's consumer runtime (guard, spans, metrics, fallbacks)."""
    topics = Topics(settings.topic_prefix)
    await produce_all(settings, topics.trends, messages(make_events(n, "ts")))
    await stamp_decisions(pool)
    consumer = AIOKafkaConsumer(
        topics.trends,
        **client_options(settings),
        group_id=f"{settings.topic_prefix}.same-semantics",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    producer = make_producer(settings, client_id="bench-same-semantics-relay")
    await consumer.start()
    await producer.start()
    stop, wake = asyncio.Event(), asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=10, max_records=500)
            events = [
                decode(r.value, ("TrendDiscovered",)) for part in batch.values() for r in part
            ]
            if not events:
                continue
            async with transaction(pool, SAME, topics) as tx:
                fresh = await tx.claim_many(SAME, events)
                if fresh:
                    await on_trends_discovered(fresh, tx, POLICY)  # type: ignore[arg-type]
            await consumer.commit()
            if tx.emitted:
                wake.set()

    tasks = [
        asyncio.create_task(consume()),
        asyncio.create_task(relay_by_hand(pool, producer, wake, stop)),
    ]
    try:
        return await measure(settings, pool, n, latency_n, rate, "ls")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await consumer.stop()
        await producer.stop()


RUNS = {"raw": "run_baseline", "same_semantics": "run_same_semantics", "pipeline": "run_pipeline"}
EMPTIED = "trends, content, workflows, inbox, outbox, budget_usage, audit_logs"


async def main(n: int, latency_n: int, rate: float, repeat: int) -> None:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNS}
    freeze_startup_objects()  # every variant on a frozen start-up heap, as agents run
    async with bench_env("pipeline") as base:
        pool = await asyncpg.create_pool(base.dsn(), min_size=1, max_size=4)
        assert pool is not None
        try:
            for round_ in range(repeat):
                # Interleaved, each on empty tables and topics of its own.
                for name, fn in RUNS.items():
                    settings = base.model_copy(
                        update={"topic_prefix": f"{base.topic_prefix}-{round_}-{name}"}
                    )
                    await ensure_topics(settings)
                    await pool.execute(f"TRUNCATE {EMPTIED} CASCADE")
                    await pool.execute("DROP TABLE IF EXISTS baseline_decisions")
                    results[name].append(await globals()[fn](settings, pool, n, latency_n, rate))
        finally:
            await pool.close()
    medians = {
        name: {
            key: round(median([run[key] for run in runs]), 2)
            for key in runs[0]
            if isinstance(runs[0][key], int | float)
        }
        for name, runs in results.items()
    }
    pipeline = medians["pipeline"]["events_per_s"]
    emit(
        {
            "bench": "pipeline",
            "n": n,
            "latency_n": latency_n,
            "rate_per_s": rate,
            "repeat": repeat,
            "median": medians,
            "runs": {name: [r["events_per_s"] for r in runs] for name, runs in results.items()},
            "ratio_vs_same_semantics": round(
                pipeline / medians["same_semantics"]["events_per_s"], 3
            ),
            "ratio_vs_raw": round(pipeline / medians["raw"]["events_per_s"], 3),
            "cpu_ratio_vs_same_semantics": round(
                medians["pipeline"]["events_per_cpu_s"]
                / medians["same_semantics"]["events_per_cpu_s"],
                3,
            ),
            "machine": machine(),
        }
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--latency-n", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant")
    args = parser.parse_args()
    if args.n < 1 or args.latency_n < 1 or args.rate <= 0 or args.repeat < 1:
        parser.error("--n, --latency-n and --repeat must be positive, --rate above 0")
    asyncio.run(main(args.n, args.latency_n, args.rate, args.repeat))


if __name__ == "__main__":
    cli()
