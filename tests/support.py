"""Helpers for tests that talk to the real broker: produce, read a topic, wait for a state;
and the guarded HTTP client of offline tests (a fake resolver, loopback connections only)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from core.kafka import client_options
from core.records import install_lenient_fetch
from core.settings import Settings
from events import Trend
from skills.net.guard import UrlGuard, parse_address
from skills.net.http import guarded_client

#: What the fake resolver answers for a name it was not told about: a public address, so the
#: guard lets it through to respx (which answers at the connection pool); `LoopbackOnly` makes
#: sure no test ever opens a connection to it.
PUBLIC_ADDRESS = "93.184.215.14"


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """A network backend that connects to loopback addresses only."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        if not parse_address(host).is_loopback:
            raise httpcore.ConnectError(f"tests connect to loopback only, not {host}")
        self.connected.append((host, port))
        return await self.inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def offline_guard(
    names: dict[str, list[str]] | None = None, allowed: tuple[str, ...] = ()
) -> UrlGuard:
    """A guard whose resolver answers from `names` (localhost: loopback; else PUBLIC_ADDRESS)."""
    table = {"localhost": ["127.0.0.1", "::1"], **(names or {})}

    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        if host.endswith(".localhost"):
            return ["127.0.0.1"]
        return [PUBLIC_ADDRESS]

    return UrlGuard(allowed, resolver=resolve)


def offline_client(
    guard: UrlGuard | None = None, network: LoopbackOnly | None = None
) -> httpx.AsyncClient:
    """`SkillContext.untrusted` for tests: the real guarded client, on `offline_guard` and
    `LoopbackOnly`."""
    return guarded_client(guard or offline_guard(), network=network or LoopbackOnly())


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
    headers: list[tuple[str, bytes | None]] | None = None,
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
    install_lenient_fetch()  # any header name, as the agents read them
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
