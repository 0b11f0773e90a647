"""Audit-sink benchmark: AuditRecorded events into audit_logs vs. COPY baselines.

    python -m bench.audit [--n 100000] [--repeat 3] [--profile]

N audit events are put on the audit topic first. Then, in the same run, interleaved, each on
an empty table and a topic of its own, `--repeat` times:
- raw: a plain aiokafka consumer reads them and COPYs each batch straight into a table shaped
  like audit_logs (json.loads only: no validation, no PII removal, no dedupe), offsets
  committed per batch;
- same_semantics: a hand-written aiokafka loop calling the sink's handler in the unit of work:
  strict decoding with the contract models, PII removal, COPY into a staging table and
  INSERT ... ON CONFLICT DO NOTHING, offsets committed after the transaction: no framework;
- sink: the audit agent (the same work, through Chimera's runtime).
Also reported: COPY alone from memory (no Kafka), the database's ceiling here.
Rows/s: the pace from the first stored batch to the last (the consumer group's join, alike for
every variant, left out); COPY alone: N / its time. One JSON line with the medians and the
ratios of the medians; with --profile, a pyinstrument profile of one sink run on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from agents.audit import sink
from agents.audit.app import build
from agents.runtime.lifecycle import freeze_startup_objects
from agents.runtime.store import transaction
from agents.runtime.topics import ensure_topics
from bench.common import Pace, bench_env, emit, machine, median, produce_all
from core.kafka import client_options
from core.settings import Settings
from events import AuditRecorded, Topics, decode, encode
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


async def wait_count(
    pool: asyncpg.Pool, table: str, n: int, timeout: float, poll: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while await pool.fetchval(f"SELECT count(*) FROM {table}") < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table}: fewer than {n} rows after {timeout}s")
        await asyncio.sleep(poll)


async def drain(
    settings: Settings,
    topic: str,
    group: str,
    n: int,
    store: Callable[[list[ConsumerRecord[Any, Any]]], Awaitable[None]],
) -> tuple[float, float]:
    """A plain aiokafka consumer: batches of up to 2000 records to `store`, offsets committed
    after each, until `n` records are stored; returns its steady (wall, CPU) seconds."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    stored = 0
    pace = Pace(n)
    try:
        while stored < n:
            batch = await consumer.getmany(timeout_ms=10, max_records=2000)
            records = [r for part in batch.values() for r in part]
            if records:
                await store(records)
                await consumer.commit()
                if not stored:
                    pace.start(len(records))
                stored += len(records)
    finally:
        await consumer.stop()
    return pace.stop()


async def run_baseline(
    settings: Settings, pool: asyncpg.Pool, topic: str, n: int
) -> tuple[float, float]:
    """Consume + COPY: json.loads only, no validation, no PII removal, no dedupe."""
    await pool.execute("CREATE TABLE audit_baseline (LIKE audit_logs INCLUDING ALL)")

    async def copy(records: list[ConsumerRecord[Any, Any]]) -> None:
        rows = []
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
        await pool.copy_records_to_table("audit_baseline", records=rows, columns=COLUMNS)

    return await drain(settings, topic, f"{settings.topic_prefix}.baseline", n, copy)


async def run_copy_only(pool: asyncpg.Pool, events: list[AuditRecorded]) -> tuple[float, float]:
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
    pace = Pace(len(rows))
    pace.start(0)
    for start in range(0, len(rows), 2000):
        await pool.copy_records_to_table(
            "audit_copy_only", records=rows[start : start + 2000], columns=COLUMNS
        )
    return pace.stop()


async def run_same_semantics(
    settings: Settings, pool: asyncpg.Pool, topic: str, n: int
) -> tuple[float, float]:
    """The sink's handler in the unit of work, called from a hand-written aiokafka loop: strict
    decoding, PII removal, COPY to staging and INSERT ON CONFLICT; no framework."""
    topics = Topics(settings.topic_prefix)

    async def store(records: list[ConsumerRecord[Any, Any]]) -> None:
        events = [decode(r.value, ("AuditRecorded",)) for r in records]
        async with transaction(pool, "baseline", topics) as tx:
            await sink.store(events, tx)  # type: ignore[arg-type]

    return await drain(settings, topic, f"{settings.topic_prefix}.same-semantics", n, store)


async def run_sink(
    settings: Settings, pool: asyncpg.Pool, n: int, profile: bool = False
) -> tuple[float, float]:
    runtime = build(settings, max_records=2000)
    async with runtime.running():
        freeze_startup_objects()  # as `chimera agent` does once the agent started
        profiler = None
        if profile:
            from pyinstrument import Profiler  # a dev dependency

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        pace = Pace(n)
        first_rows = 0
        while not first_rows:
            first_rows = await pool.fetchval("SELECT count(*) FROM audit_logs")
            await asyncio.sleep(0.01)
        pace.start(first_rows)
        await wait_count(pool, "audit_logs", n, timeout=900, poll=0.01)
        elapsed = pace.stop()
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False), file=sys.stderr)
        return elapsed


async def main(n: int, repeat: int, profile: bool) -> None:
    names = ("copy_only", "raw", "same_semantics", "sink")
    runs: dict[str, list[float]] = {name: [] for name in names}
    # This process's CPU seconds per run at its steady pace (the sink runs in this process);
    # on a machine others load, rows per CPU-second are steadier than rows per second.
    cpu_s: dict[str, list[float]] = {name: [] for name in names}
    freeze_startup_objects()  # every variant on a frozen start-up heap, as agents run
    async with bench_env("audit") as base:
        pool = await asyncpg.create_pool(base.dsn(), min_size=1, max_size=4)
        assert pool is not None
        events = make_events(n)
        produce_s = 0.0
        try:
            for round_ in range(repeat):
                # Every variant reads a topic of its own, filled with the same events.
                topics: dict[str, str] = {}
                for name in ("raw", "same_semantics", "sink"):
                    settings = base.model_copy(
                        update={"topic_prefix": f"{base.topic_prefix}-{round_}-{name}"}
                    )
                    await ensure_topics(settings)
                    topics[name] = Topics(settings.topic_prefix).audit
                    produce_s = await produce_all(
                        settings,
                        topics[name],
                        [(e.payload.agent_id.encode(), encode(e)) for e in events],
                    )
                sink_settings = base.model_copy(
                    update={"topic_prefix": f"{base.topic_prefix}-{round_}-sink"}
                )
                # Coroutines, each awaited in turn below.
                variants: dict[str, Coroutine[Any, Any, tuple[float, float]]] = {
                    "copy_only": run_copy_only(pool, events),
                    "raw": run_baseline(base, pool, topics["raw"], n),
                    "same_semantics": run_same_semantics(base, pool, topics["same_semantics"], n),
                    "sink": run_sink(sink_settings, pool, n, profile and round_ == repeat - 1),
                }
                for name, run in variants.items():
                    await _empty(pool)
                    wall, cpu = await run
                    runs[name].append(wall)
                    cpu_s[name].append(cpu)
            redacted = await pool.fetchval(
                "SELECT count(*) FROM audit_logs WHERE input_data::text LIKE '%[EMAIL]%'"
            )
        finally:
            await pool.close()
    rate = {name: median([n / s for s in seconds]) for name, seconds in runs.items()}
    per_cpu = {name: median([n / s for s in seconds]) for name, seconds in cpu_s.items()}
    result: dict[str, Any] = {
        "bench": "audit",
        "n": n,
        "repeat": repeat,
        "produce_s": round(produce_s, 2),
        "median_rows_per_s": {name: round(r, 1) for name, r in rate.items()},
        "runs_rows_per_s": {
            name: [round(n / s, 1) for s in seconds] for name, seconds in runs.items()
        },
        "median_rows_per_cpu_s": {name: round(r, 1) for name, r in per_cpu.items()},
        "sink_rows_redacted": redacted,
        "ratio_vs_same_semantics": round(rate["sink"] / rate["same_semantics"], 3),
        "ratio_vs_raw": round(rate["sink"] / rate["raw"], 3),
        "ratio_vs_copy_only": round(rate["sink"] / rate["copy_only"], 3),
        "cpu_ratio_vs_same_semantics": round(per_cpu["sink"] / per_cpu["same_semantics"], 3),
        "cpu_ratio_vs_raw": round(per_cpu["sink"] / per_cpu["raw"], 3),
        "machine": machine(),
    }
    emit(result)


async def _empty(pool: asyncpg.Pool) -> None:
    await pool.execute("TRUNCATE audit_logs")
    for table in ("audit_baseline", "audit_copy_only"):
        await pool.execute(f"DROP TABLE IF EXISTS {table}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant")
    parser.add_argument("--profile", action="store_true", help="profile the last sink run")
    args = parser.parse_args()
    if args.n < 1 or args.repeat < 1:
        parser.error("--n and --repeat must be positive")
    asyncio.run(main(args.n, args.repeat, args.profile))


if __name__ == "__main__":
    cli()
