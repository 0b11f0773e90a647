"""An agent's /metrics, /health/live, /health/ready and JSON logs, on the real broker and DB."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
from opentelemetry import trace as otel_trace
from prometheus_client.parser import text_string_to_metric_families

from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.runtime import AgentRuntime, Subscription, Tx
from core.errors import TransientError, ValidationError
from core.observability import tracing
from core.observability.http import HttpServer
from core.observability.logs import JsonFormatter, log_context
from core.retry import RetryPolicy
from core.settings import Settings
from events import Envelope, Topics, TrendDiscovered, encode
from skills.script.skill import write_script
from tests.conftest import Services
from tests.support import produce, trend, wait_for


async def get(port: int | None, path: str) -> httpx.Response:
    assert port, "the agent serves no HTTP port"
    async with httpx.AsyncClient(timeout=10.0) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples called `name` whose labels include `labels`."""
    return [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    ]


def value(text: str, name: str, **labels: str) -> float:
    found = samples(text, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0]


def observed_agent(settings: Settings, flaky_failures: Counter[str]) -> AgentRuntime:
    """A small agent whose handler logs, audits, fails for `feed:bad` (not retryable) and
    fails twice for `feed:flaky` (retryable), so every counter has something to count."""
    log = logging.getLogger("chimera.test.observed")

    async def handle(event: Envelope[Any], tx: Tx) -> None:
        trend_id = event.payload.id
        log.info("handling %s", trend_id)
        if trend_id == "feed:bad":
            raise ValidationError("this trend is not acceptable", code="BAD_TREND")
        if trend_id == "feed:flaky" and flaky_failures[trend_id] < 2:
            flaky_failures[trend_id] += 1
            raise TransientError("try again", code="FLAKY")
        await tx.audit("observed", cause=event, input_data={"trend_id": trend_id})

    topics = Topics(settings.topic_prefix)
    return AgentRuntime(
        "observed",
        settings,
        [
            Subscription("observed.trends", topics.trends, (TrendDiscovered,), in_tx=handle),
        ],
        retry=RetryPolicy(base_delay=0.05),
    )


async def test_metrics_and_json_logs_describe_what_the_agent_did(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    good = [TrendDiscovered.create(trend(n, id=f"feed:ok-{n}"), producer="test") for n in range(20)]
    bad = TrendDiscovered.create(trend(98, id="feed:bad"), producer="test")
    flaky = TrendDiscovered.create(trend(99, id="feed:flaky"), producer="test")
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    flaky_failures: Counter[str] = Counter()
    runtime = observed_agent(settings, flaky_failures)
    try:
        async with runtime.running():
            port = runtime.http_port
            await produce(
                settings,
                topics.trends,
                [(e.payload.id.encode(), encode(e)) for e in [*good, bad, flaky]]
                + [(b"feed:ok-0", encode(good[0]))]  # a duplicate
                + [(b"garbage", b"{not json")],  # undecodable
                headers=[("traceparent", parent.encode())],
            )

            async def settled() -> bool:
                text = (await get(port, "/metrics")).text
                return (
                    sum(samples(text, "chimera_events_processed_total")) == 21
                    and sum(samples(text, "chimera_dead_letters_total")) == 2
                    and sum(samples(text, "chimera_outbox_backlog")) == 0
                    and sum(samples(text, "chimera_consumer_lag")) == 0
                )

            await wait_for(settled, timeout=60, what="every record handled and committed")
            text = (await get(port, "/metrics")).text
            live = await get(port, "/health/live")
            ready = await get(port, "/health/ready")
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    labels = {"agent": "observed", "consumer": "observed.trends"}
    assert value(text, "chimera_events_processed_total", **labels) == 21
    assert value(text, "chimera_inbox_duplicates_total", **labels) == 1
    assert (
        value(
            text, "chimera_dead_letters_total", **labels, category="validation", topic=topics.trends
        )
        == 2
    )
    # feed:flaky failed twice; the first failure may have been its batch's run.
    assert 1 <= value(text, "chimera_retries_total", **labels) <= 2
    assert flaky_failures["feed:flaky"] == 2
    # 21 audits and the two dead letters' alerts (written with their rows) relayed, nothing
    # left behind; every partition consumed and committed.
    assert value(text, "chimera_outbox_relayed_total", agent="observed") == 21 + 2
    assert value(text, "chimera_outbox_backlog", agent="observed") == 0
    assert value(text, "chimera_outbox_oldest_unsent_age_seconds", agent="observed") == 0
    lag = samples(text, "chimera_consumer_lag", agent="observed", topic=topics.trends)
    assert len(lag) == settings.topic_partitions and sum(lag) == 0
    # FastStream's own Prometheus middleware shares the registry.
    assert sum(samples(text, "faststream_received_messages_total")) >= 1
    assert live.status_code == 200 and live.json()["status"] == "ok"
    assert ready.status_code == 200, ready.text
    assert all(check["ok"] for check in ready.json()["checks"].values())

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    handled = [line for line in lines if line["message"] == "handling feed:ok-3"]
    assert handled, "no log line for feed:ok-3"
    for line in handled:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert line["level"] == "INFO" and line["logger"] == "chimera.test.observed"
        assert line["agent"] == "observed"
        assert line["event_id"] == str(good[3].event_id)
        assert line["correlation_id"] == str(good[3].correlation_id)
        assert line["trace_id"] == trace_id  # the producer's trace, continued
        assert len(line["span_id"]) == 16 and line["span_id"] not in parent  # a new span
    dead = [
        line
        for line in lines
        if line["message"].startswith("observed.trends: dead-lettered")
        and "BAD_TREND" in line["message"]
    ]
    assert len(dead) == 1 and dead[0]["event_id"] == str(bad.event_id)
    assert dead[0]["level"] == "WARNING"


async def test_skill_calls_are_timed_and_failures_counted_by_category(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    runtime = build_orchestrator(settings, Policy(platforms=["local"]))
    async with runtime.running():
        ok: Any = await runtime.skills.run_json(
            write_script, {"trend": trend(1).model_dump(mode="json"), "target_duration_s": 15}
        )
        bad: Any = await runtime.skills.run_json(write_script, {"nonsense": True})
        text = (await get(runtime.http_port, "/metrics")).text
    assert ok.success and not bad.success
    labels = {"agent": "orchestrator", "skill": "skill_write_script"}
    assert value(text, "chimera_skill_duration_seconds_count", **labels, outcome="success") == 1
    assert value(text, "chimera_skill_duration_seconds_count", **labels, outcome="failure") == 1
    assert value(text, "chimera_skill_duration_seconds_sum", **labels, outcome="success") > 0
    assert value(text, "chimera_skill_errors_total", **labels, category="validation") == 1
    assert not samples(text, "chimera_skill_errors_total", **labels, category="transient")


async def _admin(dsn: str, *sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in sql:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_readiness_follows_the_database_and_the_consume_loop(
    settings: Settings, services: Services, database_url: str
) -> None:
    database = database_url.rsplit("/", 1)[1]
    runtime = build_orchestrator(settings, Policy(platforms=["local"]))

    async def ready_status() -> tuple[int, dict[str, Any]]:
        response = await get(runtime.http_port, "/health/ready")
        return response.status_code, response.json()

    async with runtime.running():

        async def ready() -> bool:
            return (await ready_status())[0] == 200

        await wait_for(ready, timeout=30, what="the agent ready")

        # The database becomes unreachable: no new connections, existing ones cut.
        await _admin(
            services.admin_dsn,
            f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
            f"""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE datname = '{database}' AND pid <> pg_backend_pid()""",
        )
        try:
            status, body = await ready_status()
            assert status == 503, body
            assert not body["checks"]["database"]["ok"]
            assert "database" in body["reason"]
            assert body["checks"]["consume_loop"]["ok"] and body["checks"]["kafka"]["ok"]
            # Liveness is not readiness: the process itself is fine.
            assert (await get(runtime.http_port, "/health/live")).status_code == 200
        finally:
            await _admin(services.admin_dsn, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await wait_for(ready, timeout=30, what="ready again once the database is back")

        # The consume loop dies (Kafka itself still answers metadata requests).
        for task in runtime.subscriber.tasks:
            task.cancel()
        await wait_for(
            lambda: _not_ready_because(ready_status, "consume task"),
            timeout=10,
            what="not ready with a dead consume loop",
        )
        status, body = await ready_status()
        assert status == 503 and not body["checks"]["consume_loop"]["ok"]
        assert body["checks"]["database"]["ok"]


async def _not_ready_because(ready_status: Any, reason: str) -> bool:
    status, body = await ready_status()
    return bool(status == 503 and reason in body.get("reason", ""))


# --- the building blocks, without Kafka or PostgreSQL ----------------------------------------


async def test_http_server_answers_routes_and_refuses_the_rest() -> None:
    async def hello() -> tuple[int, str, bytes]:
        return 200, "text/plain", b"hello\n"

    server = HttpServer({"/hello": hello})
    port = await server.start()
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            ok = await client.get(f"http://127.0.0.1:{port}/hello?x=1")
            head = await client.head(f"http://127.0.0.1:{port}/hello")
            missing = await client.get(f"http://127.0.0.1:{port}/nothing")
            post = await client.post(f"http://127.0.0.1:{port}/hello", content=b"x")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"not http at all\r\n\r\n")
        await writer.drain()
        garbage = await reader.read()
        writer.close()
    finally:
        await server.stop()
    assert (ok.status_code, ok.text) == (200, "hello\n")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "6"
    assert missing.status_code == 404
    assert post.status_code == 405
    assert garbage.startswith(b"HTTP/1.1 400 ")


def test_trace_context_precedence() -> None:
    causing = TrendDiscovered.create(trend(1), producer="test")
    emitted = TrendDiscovered.create(trend(2), producer="test", causation=causing)
    # No context at all: the workflow's root, whose trace id is the correlation id.
    root = tracing.headers_for(emitted)["traceparent"]
    assert tracing.trace_id_of(root) == causing.correlation_id.hex
    # A valid incoming traceparent wins over the root; a malformed one does not.
    incoming = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    ctx = tracing.extract([("traceparent", incoming.encode())], causing.correlation_id)
    assert (
        format(otel_trace.get_current_span(ctx).get_span_context().trace_id, "032x")
        == incoming.split("-")[1]
    )
    bad = tracing.extract([("traceparent", b"00-zz-1-01")], causing.correlation_id)
    assert otel_trace.get_current_span(bad).get_span_context().trace_id == (
        causing.correlation_id.int
    )
    # The current span beats the root; the batch map (by causation id) beats both.
    current = otel_trace.get_current_span(ctx)
    with otel_trace.use_span(current, end_on_exit=False):
        assert tracing.headers_for(emitted)["traceparent"] == incoming
        other = otel_trace.SpanContext(
            trace_id=7, span_id=9, is_remote=True, trace_flags=otel_trace.TraceFlags(1)
        )
        token = tracing.batch_spans.set({causing.event_id: other})
        try:
            assert tracing.headers_for(emitted)["traceparent"] == (f"00-{7:032x}-{9:016x}-01")
        finally:
            tracing.batch_spans.reset(token)
    # Outside any handling, a workflow seen recently resumes where it was last handled.
    tracing.remember(causing.correlation_id, current.get_span_context())
    assert tracing.headers_for(emitted)["traceparent"] == incoming


def test_json_log_lines_carry_context_extras_and_exceptions() -> None:
    record = logging.LogRecord("chimera.x", logging.ERROR, __file__, 1, "failed %s", ("it",), None)
    record.http_port = 8000
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    with log_context(event_id="e-1", correlation_id=None):
        line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed it" and line["level"] == "ERROR"
    assert line["logger"] == "chimera.x" and line["time"].endswith("Z")
    assert line["event_id"] == "e-1" and "correlation_id" not in line
    assert line["http_port"] == 8000
    assert "RuntimeError: boom" in line["exception"]
