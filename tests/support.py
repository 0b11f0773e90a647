"""Helpers for tests that talk to the real broker: produce, read a topic, wait for a state."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from core.kafka import client_options
from core.settings import Settings
from events import Trend


def trend(n: int, **overrides: Any) -> Trend:
    data: dict[str, Any] = {
        "id": f"feed:item-{n}",
        "platform": "feed",
        "topic": f"topic {n}",
        "title": f"Trend number {n}",
        "description": "A thing people talk about.",
        "engagement_metrics": {
            "views": 1000 * n,
            "likes": 10 * n,
            "comments": n,
            "shares": n,
            "engagement_rate": 0.012,
        },
        "velocity": 100.0 * n,
        "timestamp": datetime.now(UTC),
        "url": f"https://example.org/{n}",
        "tags": ["tech"],
    }
    data.update(overrides)
    return Trend.model_validate(data, strict=False)


async def produce(
    settings: Settings,
    topic: str,
    messages: list[tuple[bytes | None, bytes | None]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Send `messages` as `settings` authenticate (the test's super user)."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, *, expect: int | None = None, timeout: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything on `topic` (from the start); with `expect`, waits until that many are there
    and then a little longer, so extra (duplicate) records would be seen too."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    quiet_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for part in batch.values():
                records.extend(part)
            if expect is not None and len(records) >= expect:
                quiet_until = quiet_until or time.monotonic() + 1.0
                if time.monotonic() >= quiet_until:
                    break
            if expect is None and not batch and records:
                break
    finally:
        await consumer.stop()
    return records


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
