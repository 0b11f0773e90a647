"""One trace per trend, across every agent, carried by W3C `traceparent` Kafka headers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from contextlib import AsyncExitStack

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from agents.audit.app import build as build_audit
from agents.generate.app import build as build_generate
from agents.generate.handlers import GenerateSettings
from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.publish.app import build as build_publish
from agents.publish.handlers import PublishAgentSettings
from chimera.ops.inject import send
from core.observability.tracing import trace_id_of
from core.settings import Settings
from events import Topics, TrendDiscovered, decode, encode
from tests.support import produce, read_topic, trend, wait_for

pytestmark = pytest.mark.slow


def trace_of(record: ConsumerRecord[bytes, bytes]) -> str | None:
    headers = dict(record.headers or ())
    return trace_id_of(headers.get("traceparent"))


async def test_one_trace_id_from_inject_to_published_for_each_trend(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    # Trend A is injected by `chimera inject`, which starts its trace; trend B comes from an
    # outside producer that already has a trace of its own.
    a = TrendDiscovered.create(trend(1, id="feed:traced-a", tags=["tech", "a"]), producer="x")
    b = TrendDiscovered.create(trend(2, id="feed:traced-b", tags=["tech", "b"]), producer="x")
    b_trace = uuid.uuid4().hex
    b_parent = f"00-{b_trace}-{uuid.uuid4().hex[:16]}-01"

    audit = build_audit(settings)
    others = [
        build_orchestrator(settings, Policy(platforms=["local"])),
        build_generate(
            settings,
            GenerateSettings(resolution_scale=0.15, target_duration_s=10, preset="ultrafast"),
        ),
        build_publish(
            settings, PublishAgentSettings(poll_seconds=0.2, privacy="public", engagement_seconds=0)
        ),
    ]
    async with audit.running():
        async with AsyncExitStack() as stack:
            for runtime in others:
                await stack.enter_async_context(runtime.running())
            assert await send(settings, [a]) == 1
            await produce(
                settings,
                topics.trends,
                [(b.payload.id.encode(), encode(b))],
                headers=[("traceparent", b_parent.encode())],
            )

            async def published() -> bool:
                return (
                    await pool.fetchval("SELECT count(*) FROM workflows WHERE state = 'completed'")
                    == 2
                )

            await wait_for(published, timeout=240, what="both trends published")

        async def audited() -> bool:
            return await pool.fetchval("SELECT count(*) FROM audit_logs") == await pool.fetchval(
                "SELECT count(*) FROM outbox WHERE event_type = 'AuditRecorded'"
            )

        await wait_for(audited, what="the audit sink to catch up")

    injected = await read_topic(settings, topics.trends, expect=2)
    a_trace = next(trace_of(r) for r in injected if decode(r.value).event_id == a.event_id)
    assert a_trace is not None, "chimera inject sent no traceparent"
    assert a_trace != b_trace

    by_correlation: dict[uuid.UUID, dict[str, set[str | None]]] = defaultdict(
        lambda: defaultdict(set)
    )
    every_trace: set[str | None] = set()
    audits = 0
    for name in (
        topics.content_requests,
        topics.content_events,
        topics.publish_requests,
        topics.publish_events,
        topics.audit,
    ):
        for record in await read_topic(settings, name, timeout=6):
            event = decode(record.value)
            by_correlation[event.correlation_id][event.event_type].add(trace_of(record))
            every_trace.add(trace_of(record))
            audits += event.event_type == "AuditRecorded"

    chain = {"ContentRequested", "ContentReady", "PublishRequested", "Published", "AuditRecorded"}
    for trend_event, expected in ((a, a_trace), (b, b_trace)):
        seen = by_correlation[trend_event.correlation_id]
        assert set(seen) == chain, seen
        assert all(traces == {expected} for traces in seen.values()), (
            trend_event.payload.id,
            dict(seen),
        )
    # Skill-call audits have correlation ids of their own, but they too belong to one of the
    # two traces: nothing emitted here is outside them, and nothing lacks a traceparent.
    assert audits > 2 * 8
    assert every_trace == {a_trace, b_trace}
