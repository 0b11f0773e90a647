"""Handler errors on the real broker: transient ones retried (at most 3 times), then dead-
lettered with an alert; validation and permanent ones dead-lettered at once."""

from __future__ import annotations

import asyncpg

from agents.runtime import AgentRuntime, Subscription, Tx
from core.errors import PermanentError, TransientError, ValidationError
from core.retry import RetryPolicy
from core.settings import Settings
from events import Envelope, OperatorAlert, Topics, TrendDiscovered, decode, encode
from tests.support import produce, read_topic, trend, wait_for


def runtime_with(settings: Settings, handler) -> AgentRuntime:  # type: ignore[no-untyped-def]
    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        "tester",
        settings,
        [
            Subscription("tester.trends", topics.trends, (TrendDiscovered,), in_tx=handler),
        ],
        retry=RetryPolicy(base_delay=0.05),
    )


async def test_transient_errors_are_retried_then_succeed(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    calls: list[str] = []

    async def flaky(event: Envelope, tx: Tx) -> None:
        calls.append(event.payload.id)
        if len(calls) <= 2:
            raise TransientError("the platform is busy", code="BUSY")
        await tx.conn.execute(
            "INSERT INTO trends (id, platform, topic, title, "
            "engagement_metrics, velocity, fetched_at, url) VALUES "
            "($1, 'feed', 't', 't', '{}', 0, now(), 'u')",
            event.payload.id,
        )

    runtime = runtime_with(settings, flaky)
    topics = Topics(settings.topic_prefix)
    async with runtime.running():
        event = TrendDiscovered.create(trend(1), producer="test")
        await produce(settings, topics.trends, [(b"k", encode(event))])

        async def done() -> bool:
            return runtime.stats()["tester.trends"]["processed"] == 1

        await wait_for(done, what="the third attempt to succeed")
    assert runtime.stats()["tester.trends"] == {
        "processed": 1,
        "duplicates": 0,
        "dead_lettered": 0,
        "retries": 2,
    }
    assert await pool.fetchval("SELECT count(*) FROM trends") == 1
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 1


async def test_exhausted_retries_and_permanent_errors_go_to_the_dead_letter_topic(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    attempts: dict[str, int] = {}

    async def failing(event: Envelope, tx: Tx) -> None:
        kind = event.payload.tags[0]
        attempts[kind] = attempts.get(kind, 0) + 1
        raise {
            "transient": TransientError("still down", code="DOWN"),
            "validation": ValidationError("bad title", code="BAD_TITLE"),
            "permanent": PermanentError("token revoked", code="AUTH_REVOKED"),
        }[kind]

    runtime = runtime_with(settings, failing)
    topics = Topics(settings.topic_prefix)
    kinds = ["validation", "transient", "permanent"]
    events = [
        TrendDiscovered.create(trend(n, tags=[k]), producer="test") for n, k in enumerate(kinds)
    ]
    # Produced before the agent starts, so the three arrive in one batch: the batch run
    # fails on the first, which is dead-lettered without running again; the others are
    # then run one by one.
    await produce(settings, topics.trends, [(b"k", encode(e)) for e in events])
    async with runtime.running():
        dead = await read_topic(settings, Topics.dlq(topics.trends), expect=3, timeout=30)
        alerts = await read_topic(settings, topics.alerts, expect=3)
    assert attempts == {"transient": 4, "validation": 1, "permanent": 1}  # 1 + 3 retries
    codes = [dict(r.headers)["chimera.dlq.error.code"].decode() for r in dead]
    categories = [dict(r.headers)["chimera.dlq.error.category"].decode() for r in dead]
    assert codes == ["BAD_TITLE", "DOWN", "AUTH_REVOKED"]
    assert categories == kinds
    assert [r.value for r in dead] == [encode(e) for e in events]  # original bytes
    decoded = [decode(r.value) for r in alerts]
    assert all(isinstance(a, OperatorAlert) for a in decoded)
    assert {a.payload.error.code for a in decoded} == set(codes)
    # Nothing was committed for them: no inbox rows, so a redrive will process them.
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
