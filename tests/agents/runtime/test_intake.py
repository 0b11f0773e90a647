"""Whatever Kafka delivers reaches Chimera's handler, and whatever fails before a batch is
decided rewinds it, on the real broker and database.

- Every record shape Kafka can deliver (null and binary header values, header names and keys
  that are not UTF-8, null keys, null values, null key and value, huge headers and values) is either
  processed or dead-lettered with its original bytes, its timestamp and why.
- A failure injected at each stage between the poll and the commit (FastStream's parser, its
  decoder, a broker middleware, the handler, the commit) is rewound: every record is
  processed exactly once, none skipped. Failures are injected through public seams:
  FastStream's own parser and message classes, `broker.add_middleware`, aiokafka's consumer.
- The operator's case that started it: a trend with a null header value, read by the
  research and the orchestrator groups.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError
from faststream import BaseMiddleware
from faststream.kafka.parser import AioKafkaBatchParser
from faststream.message import StreamMessage

from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.research.app import build as build_research
from agents.research.handlers import ResearchSettings
from agents.runtime import AgentRuntime, Subscription, Tx
from agents.runtime.consumer import BatchProcessor
from core.kafka import admin_options, client_options
from core.records import header_name_bytes, partition_for, send_exact
from core.retry import RetryPolicy
from core.settings import Settings
from events import Envelope, Topics, TrendDiscovered, encode
from tests.support import produce, read_topic, trend, wait_for

N = 30  # records produced before the agent starts; batches of 10


def counting_agent(settings: Settings, calls: Counter[str]) -> AgentRuntime:
    """An agent whose handler stores each trend once and counts its calls."""

    async def store(event: Envelope[Any], tx: Tx) -> None:
        calls[event.payload.id] += 1
        await tx.conn.execute(
            "INSERT INTO trends (id, platform, topic, title, engagement_metrics, velocity, "
            "fetched_at, url) VALUES ($1, 'feed', 't', 't', '{}', 0, now(), 'u')",
            event.payload.id,
        )

    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        "tester",
        settings,
        [
            Subscription(
                "tester.trends", topics.trends, (TrendDiscovered,), in_tx=store, max_records=10
            )
        ],
        retry=RetryPolicy(base_delay=0.05),
    )


class FailOnce:
    """Raises the first time it is called, then does nothing: counts its calls."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == 1:
            raise self.exc


def inject(stage: str, monkeypatch: pytest.MonkeyPatch, fail: FailOnce) -> Any:
    """Make `stage` fail once; returns a middleware to add to the broker for "middleware"."""
    if stage == "parser":
        parse = AioKafkaBatchParser.parse_batch

        async def parse_batch(self: Any, message: Any) -> Any:
            fail()
            return await parse(self, message)

        monkeypatch.setattr(AioKafkaBatchParser, "parse_batch", parse_batch)
    elif stage == "decoder":
        decode = StreamMessage.decode

        async def decoding(self: Any) -> Any:
            fail()
            return await decode(self)

        monkeypatch.setattr(StreamMessage, "decode", decoding)
    elif stage == "handler":
        process = BatchProcessor.process

        async def processing(self: Any, records: Any) -> None:
            fail()  # before anything of the batch is decided
            await process(self, records)

        monkeypatch.setattr(BatchProcessor, "process", processing)
    elif stage == "commit":
        commit = AIOKafkaConsumer.commit

        async def committing(self: Any, *args: Any, **kwargs: Any) -> None:
            fail()
            await commit(self, *args, **kwargs)

        monkeypatch.setattr(AIOKafkaConsumer, "commit", committing)
    elif stage == "middleware":

        class Failing(BaseMiddleware):
            async def consume_scope(self, call_next: Any, msg: Any) -> Any:
                fail()
                return await call_next(msg)

        return Failing
    return None


@pytest.mark.parametrize("stage", ["parser", "decoder", "middleware", "handler", "commit"])
async def test_a_failure_at_any_stage_rewinds_the_batch_and_skips_nothing(
    stage: str, settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = Topics(settings.topic_prefix)
    events = [TrendDiscovered.create(trend(n, id=f"feed:s-{n}"), producer="t") for n in range(N)]
    await produce(
        settings,
        topics.trends,
        [(e.payload.id.encode(), encode(e)) for e in events],
    )
    exc = (
        CommitFailedError("injected: the group rebalanced")
        if stage == "commit"
        else RuntimeError(f"injected {stage} failure")
    )
    fail = FailOnce(exc)
    middleware = inject(stage, monkeypatch, fail)
    calls: Counter[str] = Counter()
    runtime = counting_agent(settings, calls)
    if middleware is not None:
        runtime.broker.add_middleware(middleware)
    async with runtime.running():

        async def all_stored() -> bool:
            return await pool.fetchval("SELECT count(*) FROM trends") == N

        await wait_for(all_stored, timeout=30, what=f"every trend after the {stage} failure")
        await wait_for(lambda: _committed(settings, runtime, N), what="the group's commit")
    assert fail.calls > 1, "the failure was injected, and the stage ran again"
    rewound = runtime.ops.metrics.registry.get_sample_value(
        "chimera_batch_redeliveries_total", {"agent": "tester"}
    )
    assert rewound == 1, "the failed batch was rewound, not left for a later commit to skip"
    # Every record around the failure exactly once, nothing skipped, nothing doubled.
    assert calls == Counter({e.payload.id: 1 for e in events})
    assert await pool.fetchval("SELECT count(*) FROM inbox") == N
    assert runtime.stats()["tester.trends"]["dead_lettered"] == 0


async def _committed(settings: Settings, runtime: AgentRuntime, n: int) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**admin_options(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(runtime.group)
    finally:
        await admin.close()
    return sum(max(0, m.offset) for m in offsets.values()) == n


HUGE = b"h" * (600 * 1024)
BINARY = b"\xff\xfe\x00\x80"


async def test_every_record_shape_is_processed_or_dead_lettered_byte_for_byte(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)

    def valid(n: int) -> bytes:
        return encode(TrendDiscovered.create(trend(n, id=f"feed:shape-{n}"), producer="t"))

    # (key, value, headers): what aiokafka's producer can send ...
    plain: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = [
        (b"k0", valid(0), [("nothing", None)]),  # a null header value
        (b"k1", valid(1), [("binary", BINARY), ("text", b"ok")]),  # a binary header value
        (b"\xff\xfek2", valid(2), []),  # a key that is not UTF-8
        (None, valid(3), [("n", None)]),  # a null key
        (b"k4", valid(4), [("huge", HUGE)]),  # a huge header
        (b"k5", None, [("binary", BINARY)]),  # a null value (tombstone)
        (b"k6", b"", []),  # an empty value
        (b"k7", b"\xff\xfe not UTF-8", [("nothing", None), ("binary", BINARY)]),
        (b"k8", b"{not json", [("huge", HUGE)]),
        # As large as the broker takes: its dead letter (plus headers) must still fit.
        (b"k12", b"{" + b"x" * 1_048_400, [("src", b"big")]),
    ]
    # ... and what it cannot (a header name that is not UTF-8, a null key and a null value).
    exact: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = [
        (b"k9", valid(9), [("\udcff\udcfename", BINARY)]),
        (None, None, [("\udcffx", None)]),
        (b"k11", b"[]", [("\udcfe", b"v")]),
    ]
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for key, value, headers in plain:
            await producer.send_and_wait(topics.trends, value, key=key, headers=headers)
        for key, value, headers in exact:
            part = await partition_for(producer, topics.trends, 0)
            await (
                await send_exact(
                    producer, topics.trends, key=key, value=value, headers=headers, partition=part
                )
            )
    finally:
        await producer.stop()
    sent = await read_topic(settings, topics.trends, expect=len(plain) + len(exact))
    originals = {(r.key, r.value): r for r in sent}
    processed = {0, 1, 2, 3, 4, 9}
    refused = [(k, v, h) for k, v, h in plain + exact if v is None or b"feed:shape" not in v]

    calls: Counter[str] = Counter()
    runtime = counting_agent(settings, calls)
    async with runtime.running():
        dead = await read_topic(
            settings, Topics.dlq(topics.trends), expect=len(refused), timeout=30
        )

        async def stored() -> bool:
            return await pool.fetchval("SELECT count(*) FROM trends") == len(processed)

        await wait_for(stored, what="every valid shape processed")
    assert calls == Counter({f"feed:shape-{n}": 1 for n in processed})
    assert runtime.stats()["tester.trends"]["dead_lettered"] == len(refused)
    assert len(dead) == len(refused)
    by_original = {(r.key, r.value): r for r in dead}
    for key, value, headers in refused:
        letter = by_original[(key, value)]
        original = originals[(key, value)]
        names = [(header_name_bytes(k), v) for k, v in letter.headers]
        want = [(header_name_bytes(k), v) for k, v in headers]
        assert names[: len(want)] == want, "original headers, byte for byte, first"
        why = {k: v.decode() for k, v in letter.headers[len(want) :]}
        assert why["chimera.dlq.original.timestamp"] == str(original.timestamp)
        assert why["chimera.dlq.original.timestamp.type"] == "CreateTime"
        assert why["chimera.dlq.original.offset"] == str(original.offset)
        assert why["chimera.dlq.exception.class"] == "events.codec.DecodeError"
        assert "Traceback" in why["chimera.dlq.exception.stacktrace"]
        assert why["chimera.dlq.consumer.group"] == runtime.group
    # One row per refused record and group: a replay will not dead-letter them again.
    assert await pool.fetchval("SELECT count(*) FROM dead_letters WHERE sent_at IS NOT NULL") == (
        len(refused)
    )


async def test_a_null_header_value_loses_nothing_in_either_group(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """The operator's report: a trend with a null header value, amid valid ones."""
    topics = Topics(settings.topic_prefix)
    events = [
        TrendDiscovered.create(trend(n, id=f"feed:null-{n}"), producer="t") for n in range(20)
    ]
    records = [(e.payload.id.encode(), encode(e)) for e in events]
    await produce(settings, topics.trends, records[:10])
    await produce(settings, topics.trends, records[10:11], headers=[("origin", None)])
    await produce(settings, topics.trends, records[11:])
    research = build_research(settings, ResearchSettings(interval_seconds=0))
    orchestrator = build_orchestrator(settings, Policy(platforms=["local"]))
    async with research.running(), orchestrator.running():

        async def decided() -> bool:
            return await pool.fetchval("SELECT count(*) FROM workflows") == len(events)

        await wait_for(decided, timeout=30, what="a decision for every trend")

        async def researched() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = 'research.trends'"
            ) == len(events)

        await wait_for(researched, what="the research group to store every trend")
    assert await pool.fetchval("SELECT count(*) FROM trends") == len(events)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
