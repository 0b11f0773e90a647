"""Injecting events from outside producers: validate every line, then send with keys.

Each JSON line is either a full event envelope (any known event type) or a bare trend object,
which is wrapped in a `TrendDiscovered` envelope. Validation is the same strict decoding the
agents use, so whatever passes here is accepted downstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError as PydanticValidationError

from agents.runtime.topics import ensure_topics
from core.kafka import make_producer
from core.observability import tracing
from core.settings import Settings
from events import DecodeError, Envelope, Topics, Trend, TrendDiscovered, decode, encode

KEY_FIELDS = ("content_id", "id", "publication_id")


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


def parse_lines(
    lines: Iterable[str], producer: str = "inject"
) -> tuple[list[Envelope[Any]], list[Problem]]:
    """Validate JSON lines; blank lines and lines starting with # are ignored."""
    events: list[Envelope[Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            events.append(parse_one(text, producer))
        except DecodeError as exc:
            problems.append(Problem(number, f"{exc.code}: {exc.message}"))
    return events, problems


def parse_one(text: str, producer: str = "inject") -> Envelope[Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError("INVALID_JSON", f"not JSON: {exc}") from exc
    if isinstance(raw, dict) and "event_type" not in raw and "payload" not in raw:
        try:
            trend = Trend.model_validate_json(text)
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10]
            )
            raise DecodeError("SCHEMA_VIOLATION", f"invalid trend: {problems}") from exc
        return TrendDiscovered.create(trend, producer=producer)
    return decode(text.encode())


def key_of(event: Envelope[Any]) -> str | None:
    """The partition key that keeps one item's events in order (see events.topics)."""
    payload = event.payload
    for name in KEY_FIELDS:
        value = getattr(payload, name, None)
        if isinstance(value, str):
            return value
    return None


async def send(
    settings: Settings, events: list[Envelope[Any]], producer: AIOKafkaProducer | None = None
) -> int:
    """Publish events to their streams' topics (acks=all, idempotent). Returns the count.

    Each event starts its workflow's trace: a producer span whose W3C `traceparent` goes in
    the record's headers (trace id = the event's correlation id, see
    core.observability.tracing). A long-lived caller (the MCP server) passes its own started
    `producer`; otherwise one is made for this call.
    """
    topics = Topics(settings.topic_prefix)
    await ensure_topics(settings)  # the registry's topics, with their partition counts
    own = producer is None
    if producer is None:
        producer = make_producer(settings, client_id="chimera-inject")
        await producer.start()
    tracer = tracing.tracer()
    try:
        futures = []
        for event in events:
            key = key_of(event)
            topic = topics.stream_of(event.event_type)
            span = tracer.start_span(
                f"{topic} publish",
                context=tracing.workflow_context(event.correlation_id),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": topic,
                    "messaging.message.id": str(event.event_id),
                    "chimera.event_type": event.event_type,
                },
            )
            with trace.use_span(span, end_on_exit=True):
                headers = tracing.headers_for(event)
            futures.append(
                await producer.send(
                    topic,
                    encode(event),
                    key=key.encode() if key else None,
                    headers=[
                        ("event_type", event.event_type.encode()),
                        *((k, v.encode()) for k, v in headers.items()),
                    ],
                )
            )
        for future in futures:
            await future
    finally:
        if own:
            await producer.stop()
    return len(events)
