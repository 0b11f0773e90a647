"""Pipeline benchmark: injected trends through the orchestrator vs. a raw consumer baseline.

    python -m bench.pipeline [--n 20000] [--latency-n 2000] [--rate 200]

Throughput: N TrendDiscovered events are put on the trends topic first; then the orchestrator
(inbox, policy queries, content + workflow rows, outbox with ContentRequested and audit
events, relay to Kafka) drains them; events/s = N / (last committed decision - start).
Baseline, same run, same events: a plain aiokafka consumer + asyncpg `executemany` of one
row per event per batch, offsets committed per batch — no framework, no inbox/outbox.
Latency: `--latency-n` events injected at `--rate`/s while each consumer runs; latency is
from the event's `occurred_at` to its committed decision row (p50, p99).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from agents.orchestrator.app import build
from agents.orchestrator.policy import Policy
from agents.runtime.topics import ensure_topics
from bench.common import bench_env, emit, machine, percentile, produce_all
from core.settings import Settings
from events import Topics, Trend, TrendDiscovered, encode

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

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
    )
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


async def latencies(pool: asyncpg.Pool, table: str, prefix: str) -> list[float]:
    rows = await pool.fetch(
        f"SELECT extract(epoch FROM created_at - occurred_at) * 1000 AS ms FROM {table} "
        f"WHERE trend_id LIKE $1",
        prefix + "%",
    )
    return [float(r["ms"]) for r in rows]


# --- the pipeline (the orchestrator agent) ---------------------------------------------------
async def run_pipeline(
    settings: Settings, pool: asyncpg.Pool, n: int, latency_n: int, rate: float
) -> dict[str, Any]:
    topics = Topics(settings.topic_prefix)
    await produce_all(settings, topics.trends, messages(make_events(n, "tp")))
    runtime = build(settings, POLICY)
    # Stamp each decision with the wall clock of its insert, not the transaction start.
    await pool.execute(
        """CREATE FUNCTION bench_stamp() RETURNS trigger AS $$ BEGIN
             NEW.created_at := clock_timestamp(); RETURN NEW; END $$ LANGUAGE plpgsql;
           CREATE TRIGGER bench_stamp BEFORE INSERT ON workflows
             FOR EACH ROW EXECUTE FUNCTION bench_stamp();"""
    )
    async with runtime.running():
        began = time.perf_counter()
        await wait_rows(pool, "SELECT count(*) FROM workflows", n, timeout=900)
        elapsed = time.perf_counter() - began
        await wait_rows(
            pool, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL", 3 * n, timeout=300
        )
        relay_elapsed = time.perf_counter() - began
        lat_events = make_events(latency_n, "lp")
        await paced(settings, topics.trends, lat_events, rate)
        await wait_rows(pool, "SELECT count(*) FROM workflows", n + latency_n, timeout=300)
    # The paced sender stamped occurred_at at send time; match decisions by trend id.
    stamps = await _stamps_from_topic(settings, topics.trends, "bench:lp:")
    rows = await pool.fetch(
        "SELECT trend_id, created_at FROM workflows WHERE trend_id LIKE 'bench:lp:%'"
    )
    lat = [(r["created_at"] - stamps[r["trend_id"]]).total_seconds() * 1000 for r in rows]
    return {
        "events_per_s": round(n / elapsed, 1),
        "seconds": round(elapsed, 2),
        "seconds_until_all_relayed": round(relay_elapsed, 2),
        "p50_ms": round(percentile(lat, 0.5), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
    }


async def _stamps_from_topic(settings: Settings, topic: str, prefix: str) -> dict[str, datetime]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
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
        bootstrap_servers=settings.bootstrap_servers,
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
        began = time.perf_counter()
        await wait_rows(pool, "SELECT count(*) FROM baseline_decisions", n, timeout=600)
        elapsed = time.perf_counter() - began
        await paced(settings, topic, make_events(latency_n, "lb"), rate)
        await wait_rows(pool, "SELECT count(*) FROM baseline_decisions", n + latency_n, 300)
    finally:
        stop.set()
        await task
        await consumer.stop()
    lat = await latencies(pool, "baseline_decisions", "bench:lb:")
    return {
        "events_per_s": round(n / elapsed, 1),
        "seconds": round(elapsed, 2),
        "p50_ms": round(percentile(lat, 0.5), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
    }


async def main(n: int, latency_n: int, rate: float) -> None:
    async with bench_env("pipeline") as settings:
        await ensure_topics(settings)
        pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=4)
        assert pool is not None
        try:
            baseline = await run_baseline(settings, pool, n, latency_n, rate)
            pipeline = await run_pipeline(settings, pool, n, latency_n, rate)
        finally:
            await pool.close()
    emit(
        {
            "bench": "pipeline",
            "n": n,
            "latency_n": latency_n,
            "rate_per_s": rate,
            "pipeline": pipeline,
            "baseline": baseline,
            "throughput_ratio": round(pipeline["events_per_s"] / baseline["events_per_s"], 3),
            "machine": machine(),
        }
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--latency-n", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    if args.n < 1 or args.latency_n < 1 or args.rate <= 0:
        parser.error("--n and --latency-n must be positive, --rate above 0")
    asyncio.run(main(args.n, args.latency_n, args.rate))


if __name__ == "__main__":
    cli()
