"""What the benchmarks share: a fresh database and topic prefix on the local stack, timing."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from chimera import stack
from chimera.access import kafka as kafka_access
from core import db
from core.credentials import ADMIN, as_principal
from core.kafka import client_options
from core.settings import Settings


@asynccontextmanager
async def bench_env(name: str) -> AsyncIterator[Settings]:
    """Settings on the local stack (started if needed) with a fresh migrated database; on the
    secured broker as its super user, with the ACL matrix of the bench's topic prefix (the
    agents it builds run as their own principals, with exactly their rights)."""
    base = Settings()
    await asyncio.to_thread(stack.up, base)
    db_name = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = base.dsn().rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{db_name}"')
    await conn.close()
    dsn = base.dsn().rsplit("/", 1)[0] + f"/{db_name}"
    await asyncio.to_thread(db.upgrade, dsn)
    settings = base.model_copy(
        update={
            "database_url": __import__("pydantic").SecretStr(dsn),
            "kafka_bootstrap_servers": base.bootstrap_servers,
            "topic_prefix": f"bench-{name}-{uuid.uuid4().hex[:8]}",
        }
    )
    acls: list[kafka_access.Acl] = []
    if settings.security_protocol.startswith("SASL"):
        settings = as_principal(settings, ADMIN)
        acls = await asyncio.to_thread(kafka_access.matrix, settings)
        await asyncio.to_thread(kafka_access.apply, settings, acls)
    try:
        yield settings
    finally:
        if acls:
            await asyncio.to_thread(kafka_access.revoke, settings, acls)
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await conn.close()


async def produce_all(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Produce messages as fast as acks=all allows; returns seconds taken."""
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    began = time.perf_counter()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - began


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def emit(result: dict[str, Any]) -> None:
    """One JSON line on stdout: the benchmark's result."""
    print(json.dumps(result, sort_keys=True), flush=True)


@dataclass
class Pace:
    """A run's steady pace: from its first stored rows to its last, in wall and in this
    process's CPU seconds, scaled to all `n` rows (the consumer group's join, the first fetch
    and an agent's start-up, alike for every variant or not its pace, left out)."""

    n: int
    first_rows: int = 0
    first_wall: float = 0.0
    first_cpu: float = 0.0

    def start(self, rows: int) -> None:
        self.first_rows, self.first_wall, self.first_cpu = (
            rows,
            time.perf_counter(),
            time.process_time(),
        )

    def stop(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) for `n` rows at this pace."""
        scale = self.n / max(1, self.n - self.first_rows)
        return (
            (time.perf_counter() - self.first_wall) * scale,
            (time.process_time() - self.first_cpu) * scale,
        )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
