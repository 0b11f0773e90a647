"""Audit-sink benchmark: AuditRecorded events into audit_logs vs. a COPY baseline.

    python -m bench.audit [--n 100000]

N audit events are put on the audit topic first. Then, in the same run:
- baseline: a plain aiokafka consumer reads them and COPYs each batch straight into a table
  shaped like audit_logs (json.loads only: no validation, no PII removal, no dedupe), offsets
  committed per batch;
- sink: the audit agent (strict decoding, PII removal, COPY into a staging table and
  INSERT ... ON CONFLICT DO NOTHING into audit_logs, manual commits).
Also reported: COPY alone from memory (no Kafka), the database's ceiling here.
Rows/s = N / time from start to the last row stored. Prints one JSON line.
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

from agents.audit.app import build
from agents.runtime.topics import ensure_topics
from bench.common import bench_env, emit, machine, produce_all
from core.settings import Settings
from events import AuditRecorded, Topics, encode
from events.catalog import AuditPayload

COLUMNS = [
    "id",
    "agent_id",
    "action",
    "skill_name",
    "input_data",
    "output_data",
    "status",
    "timestamp",
]


def make_events(n: int) -> list[AuditRecorded]:
    now = datetime.now(UTC)
    correlation = uuid.uuid4()
    return [
        AuditRecorded.create(
            AuditPayload(
                id=f"bench-audit-{i}",
                agent_id=("research", "orchestrator", "generate")[i % 3],
                action="skill:skill_write_script",
                skill_name="skill_write_script",
                input_data={"trend_id": f"feed:{i}", "note": "contact ops@example.com"},
                output_data={"success": True, "duration_s": 0.12, "words": 84},
                status="success",
                timestamp=now,
            ),
            producer="bench",
            correlation_id=correlation,
        )
        for i in range(n)
    ]


async def wait_count(pool: asyncpg.Pool, table: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await pool.fetchval(f"SELECT count(*) FROM {table}") < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table}: fewer than {n} rows after {timeout}s")
        await asyncio.sleep(0.05)


async def run_baseline(settings: Settings, pool: asyncpg.Pool, topic: str, n: int) -> float:
    await pool.execute("CREATE TABLE audit_baseline (LIKE audit_logs INCLUDING ALL)")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{settings.topic_prefix}.baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    stored = 0
    began = time.perf_counter()
    try:
        while stored < n:
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            rows = []
            for records in batch.values():
                for r in records:
                    p = json.loads(r.value)["payload"]
                    rows.append(
                        (
                            p["id"],
                            p["agent_id"],
                            p["action"],
                            p["skill_name"],
                            json.dumps(p["input_data"]),
                            json.dumps(p["output_data"]),
                            p["status"],
                            datetime.fromisoformat(p["timestamp"]),
                        )
                    )
            if rows:
                await pool.copy_records_to_table("audit_baseline", records=rows, columns=COLUMNS)
                await consumer.commit()
                stored += len(rows)
    finally:
        await consumer.stop()
    return time.perf_counter() - began


async def run_copy_only(pool: asyncpg.Pool, events: list[AuditRecorded]) -> float:
    await pool.execute("CREATE TABLE audit_copy_only (LIKE audit_logs INCLUDING ALL)")
    rows = [
        (
            e.payload.id,
            e.payload.agent_id,
            e.payload.action,
            e.payload.skill_name,
            json.dumps(e.payload.input_data),
            json.dumps(e.payload.output_data),
            e.payload.status,
            e.payload.timestamp,
        )
        for e in events
    ]
    began = time.perf_counter()
    for start in range(0, len(rows), 2000):
        await pool.copy_records_to_table(
            "audit_copy_only", records=rows[start : start + 2000], columns=COLUMNS
        )
    return time.perf_counter() - began


async def run_sink(settings: Settings, pool: asyncpg.Pool, n: int) -> float:
    runtime = build(settings, max_records=2000)
    async with runtime.running():
        began = time.perf_counter()
        await wait_count(pool, "audit_logs", n, timeout=900)
        return time.perf_counter() - began


async def main(n: int) -> None:
    async with bench_env("audit") as settings:
        await ensure_topics(settings)
        topics = Topics(settings.topic_prefix)
        events = make_events(n)
        produce_s = await produce_all(
            settings, topics.audit, [(e.payload.agent_id.encode(), encode(e)) for e in events]
        )
        pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=4)
        assert pool is not None
        try:
            copy_only = await run_copy_only(pool, events)
            baseline = await run_baseline(settings, pool, topics.audit, n)
            sink = await run_sink(settings, pool, n)
            redacted = await pool.fetchval(
                "SELECT count(*) FROM audit_logs WHERE input_data::text LIKE '%[EMAIL]%'"
            )
        finally:
            await pool.close()
    result: dict[str, Any] = {
        "bench": "audit",
        "n": n,
        "produce_s": round(produce_s, 2),
        "sink": {
            "rows_per_s": round(n / sink, 1),
            "seconds": round(sink, 2),
            "rows_redacted": redacted,
        },
        "baseline_kafka_copy": {
            "rows_per_s": round(n / baseline, 1),
            "seconds": round(baseline, 2),
        },
        "copy_only": {"rows_per_s": round(n / copy_only, 1), "seconds": round(copy_only, 2)},
        "ratio_vs_baseline": round(baseline / sink, 3),
        "ratio_vs_copy_only": round(copy_only / sink, 3),
        "machine": machine(),
    }
    emit(result)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be positive")
    asyncio.run(main(args.n))


if __name__ == "__main__":
    cli()
