"""OpenTelemetry tracing across Kafka: W3C `traceparent` in every record's headers.

* `chimera inject` starts a workflow's trace; the consumer extracts the context from each
  record's headers and handles the record inside a consume span; every event emitted while
  handling it carries that span's `traceparent` (written to the outbox `headers` column,
  which the relay turns into Kafka headers).
* Events emitted outside the handling of a consumed event (the publish agent's due-loop)
  join the trace of the last event of their workflow (same correlation id) this process
  consumed, kept in a bounded in-memory map.
* When that is unknown (a restart in between), and for records without a `traceparent`, a
  workflow's trace id is its correlation id (both are 128 bits), under a virtual root span
  derived from it: `chimera inject` starts every trace that way, so such events still join
  their workflow's trace without any stored state.
* Spans are recorded with the OpenTelemetry SDK; `CHIMERA_OTEL_EXPORTER` chooses where they go
  (`none`: nowhere, the context is still propagated; `console`; `otlp` if its package is
  installed).
"""

from __future__ import annotations

import random
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.errors import ConfigError

TRACEPARENT = "traceparent"
PROPAGATOR = TraceContextTextMapPropagator()
_MASK64 = (1 << 64) - 1

# The consume spans of the batch being handled, by event id: a set-based handler emits for
# many events in one call, so the ambient span cannot tell which event an emit belongs to.
batch_spans: ContextVar[Mapping[uuid.UUID, SpanContext] | None] = ContextVar(
    "chimera_batch_spans", default=None
)

_configured: set[str] = set()

# correlation id -> the consume span of the last event of that workflow seen here (LRU).
_RECENT_LIMIT = 10_000
_recent: OrderedDict[uuid.UUID, SpanContext] = OrderedDict()


def remember(correlation_id: uuid.UUID, span_context: SpanContext) -> None:
    """Note that this workflow's latest consumed event was handled in `span_context`."""
    _recent[correlation_id] = span_context
    _recent.move_to_end(correlation_id)
    while len(_recent) > _RECENT_LIMIT:
        _recent.popitem(last=False)


def resume_context(correlation_id: uuid.UUID) -> otel_context.Context:
    """The context to continue a workflow in, outside the handling of one of its events."""
    known = _recent.get(correlation_id)
    if known is None:
        return workflow_context(correlation_id)
    return trace.set_span_in_context(NonRecordingSpan(known), otel_context.Context())


def configure_tracing(exporter: str = "none", service_name: str = "chimera") -> TracerProvider:
    """Install the SDK tracer provider once per process and add the chosen exporter.

    Idempotent: several agents in one process (tests) share the provider; an exporter kind
    is added once. The first caller's `service_name` names the process's resource.
    """
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider), "another tracer provider is installed"
    if exporter != "none" and exporter not in _configured:
        if exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                    OTLPSpanExporter,
                )
            except ImportError as exc:
                raise ConfigError(
                    "CHIMERA_OTEL_EXPORTER=otlp needs the package "
                    "opentelemetry-exporter-otlp-proto-http"
                ) from exc
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            raise ConfigError(f"unknown CHIMERA_OTEL_EXPORTER {exporter!r}")
        _configured.add(exporter)
    return provider


def exporting() -> bool:
    """Whether spans go anywhere. Without an exporter, consumers use cheap non-recording spans
    that still carry the trace id and a span id, so propagation and log fields stay the same."""
    return bool(_configured)


def child_of(parent: otel_context.Context) -> NonRecordingSpan:
    """A non-recording span in `parent`'s trace with a fresh span id (no SDK work at all)."""
    parent_span = trace.get_current_span(parent).get_span_context()
    trace_id = parent_span.trace_id if parent_span.is_valid else random.getrandbits(128) or 1
    return NonRecordingSpan(
        SpanContext(
            trace_id=trace_id,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )


def tracer() -> trace.Tracer:
    return trace.get_tracer("chimera")


def workflow_context(correlation_id: uuid.UUID) -> otel_context.Context:
    """The context of a workflow's virtual root span: trace id = the correlation id."""
    trace_id = correlation_id.int or 1
    span_id = (correlation_id.int & _MASK64) or 1
    root = SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(root), otel_context.Context())


def extract(
    headers: Iterable[tuple[str, bytes]] | None, correlation_id: uuid.UUID | None
) -> otel_context.Context:
    """The parent context of a consumed record: its `traceparent` header if valid, else its
    workflow's root (or an empty context when even the correlation id is unknown)."""
    carrier: dict[str, str] = {}
    for key, value in headers or ():
        if key in (TRACEPARENT, "tracestate"):
            carrier[key] = value.decode(errors="replace") if isinstance(value, bytes) else value
    if carrier:
        ctx = PROPAGATOR.extract(carrier)
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
    return workflow_context(correlation_id) if correlation_id else otel_context.Context()


def traceparent(span_context: SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


def trace_id_of(value: str | bytes | None) -> str | None:
    """The trace id in a `traceparent` header value (None when absent or malformed)."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    parts = (value or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def headers_for(event: Any) -> dict[str, str]:
    """The trace headers of an event about to be emitted (see the module docstring).

    In order: the consume span of the event that caused it (set-based batches), the current
    span (per-event handlers, long handlers), else where its workflow was last seen here, else
    its workflow's root.
    """
    spans = batch_spans.get()
    causation = getattr(event, "causation_id", None)
    if spans and isinstance(causation, uuid.UUID) and causation in spans:
        return {TRACEPARENT: traceparent(spans[causation])}
    current = trace.get_current_span().get_span_context()
    if current.is_valid:
        return {TRACEPARENT: traceparent(current)}
    correlation = getattr(event, "correlation_id", None)
    if isinstance(correlation, uuid.UUID):
        resumed = trace.get_current_span(resume_context(correlation)).get_span_context()
        return {TRACEPARENT: traceparent(resumed)}
    return {}
