"""JSON logs: one object per line, with the agent and the event being handled.

The consumer sets the event context (`log_context`) around the handling of each event; the
trace and span ids come from the current OpenTelemetry span. Fields that are unknown at the
moment of a log call are left out rather than written as null.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

# Set by the agent runtime (tasks inherit it) and by the consumer for each event.
agent_var: ContextVar[str | None] = ContextVar("chimera_agent", default=None)
event_var: ContextVar[dict[str, str] | None] = ContextVar("chimera_event", default=None)

# Attributes every LogRecord has; anything else passed with `extra=` is copied to the JSON.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Within the block, log lines carry these fields (event_id, correlation_id, ...)."""
    current = event_var.get() or {}
    token = event_var.set({**current, **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        event_var.reset(token)


def context_fields() -> dict[str, str]:
    """The agent, event and trace fields of the current context."""
    fields: dict[str, str] = {}
    if (agent := agent_var.get()) is not None:
        fields["agent"] = agent
    fields.update(event_var.get() or {})
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    return fields


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, then the context fields, extras and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(context_fields())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in data and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the agent and event id appended when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = context_fields()
        extra = " ".join(
            f"{k}={fields[k]}" for k in ("agent", "event_id", "trace_id") if k in fields
        )
        return f"{line} [{extra}]" if extra else line


def configure_logging(fmt: str | None = None, level: str | int | None = None) -> None:
    """Configure the root logger once for a process (`chimera agent` calls this).

    Defaults come from `ObservabilitySettings` (CHIMERA_LOG_FORMAT=json|text,
    CHIMERA_LOG_LEVEL). Logs go to stderr; aiokafka's chatter is kept at WARNING.
    """
    from core.observability.settings import ObservabilitySettings

    settings = ObservabilitySettings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if (fmt or settings.log_format) == "json" else TextFormatter()
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or settings.log_level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
