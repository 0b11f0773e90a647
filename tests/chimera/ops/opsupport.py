"""Helpers for the ops tests: the CLI run as an operator runs it, records with chosen
partitions and timestamps, table snapshots."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from agents.runtime.topics import ensure_topics
from chimera.ops import offsets
from core.credentials import process_env
from core.kafka import client_options
from core.settings import Settings

TABLES = (
    "trends",
    "content",
    "publications",
    "engagement",
    "audit_logs",
    "workflows",
    "inbox",
    "outbox",
)


def _invoke(settings: Settings, args: list[str], stdin: str | None) -> Result:
    from chimera.cli import app

    env = process_env(settings)
    return CliRunner().invoke(app, args, env=env, input=stdin)


async def chimera(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    """`chimera ARGS` against this test's broker, database and prefix (in a thread: the
    command runs its own event loop)."""
    return await asyncio.to_thread(_invoke, settings, list(args), stdin)


def flat(output: str) -> str:
    """CLI output with rich's boxes removed and whitespace collapsed (wrapped messages
    read as one line)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


async def make_topics(settings: Settings) -> None:
    """Every stream's topic and dead-letter topic under the test's prefix (3 partitions)."""
    await ensure_topics(settings)


Record = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]], int | None]


async def send(settings: Settings, topic: str, records: list[Record]) -> list[int]:
    """Produce (partition, key, value, headers, timestamp_ms) records; returns offsets."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        acks = [
            await producer.send(
                topic, value, key=key, partition=partition, headers=headers, timestamp_ms=ts
            )
            for partition, key, value, headers, ts in records
        ]
        return [(await ack).offset for ack in acks]
    finally:
        await producer.stop()


async def snapshot(pool: asyncpg.Pool, tables: tuple[str, ...] = TABLES) -> dict[str, list[Any]]:
    """Every row of every table, as sorted JSON text (comparable row for row)."""
    found = {}
    for table in tables:
        rows = await pool.fetch(f"SELECT * FROM {table}")
        found[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    return found


async def contents(settings: Settings, topics: list[str]) -> dict[str, list[bytes | None]]:
    """Every value on each topic up to its end now, sorted (no waiting for quiet)."""
    partitions = await offsets.list_partitions(settings, topics)
    beginning, end = await offsets.watermarks(settings, partitions)
    found: dict[str, list[bytes | None]] = {t: [] for t in topics}
    async with offsets.plain_consumer(settings) as consumer:
        async for record in offsets.read_range(
            consumer, {tp: (beginning[tp], end[tp]) for tp in partitions}
        ):
            found[record.topic].append(record.value)
    return {t: sorted(v, key=lambda b: b or b"") for t, v in found.items()}
