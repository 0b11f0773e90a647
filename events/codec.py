"""Turning bytes into validated events and back. No I/O.

`decode` is strict: bad JSON, an unknown event type, unknown fields, wrong types and
unsupported schema versions each raise `DecodeError` with a code for the dead-letter headers.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from events.catalog import EVENTS
from events.envelope import Envelope


class DecodeError(Exception):
    """A message that is not a valid event; `code` names why (for dead-letter headers)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# How `encode` starts every event (pydantic writes fields in declaration order): enough to pick
# the model without parsing the JSON twice. Anything else takes the general path below.
_HEAD = re.compile(
    rb'\{"event_id":"[0-9a-f-]{36}","event_type":"(\w{1,100})","schema_version":(\d{1,9}),'
)


def decode(data: bytes | None, accept: tuple[str, ...] | None = None) -> Envelope[Any]:
    """Validate `data` as one of the known events (and one of `accept`, when given)."""
    if data is None:
        raise DecodeError("EMPTY_MESSAGE", "the message has no value")
    head = _HEAD.match(data)
    if head is not None:
        model = EVENTS.get(head[1].decode())
        if (
            model is not None
            and (accept is None or model.EVENT_TYPE in accept)
            and int(head[2]) == model.schema_version_current
        ):
            try:
                # Pydantic validates everything (event_type and version included) again.
                return model.model_validate_json(data)
            except ValidationError as exc:
                raise _violation(model.EVENT_TYPE, exc) from exc
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("INVALID_JSON", f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DecodeError("INVALID_ENVELOPE", "the message is not a JSON object")
    event_type = raw.get("event_type")
    model = EVENTS.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise DecodeError("UNKNOWN_EVENT_TYPE", f"unknown event_type {event_type!r}")
    if accept is not None and event_type not in accept:
        raise DecodeError(
            "UNEXPECTED_EVENT_TYPE",
            f"{event_type} does not belong on this topic (expects {accept})",
        )
    try:
        # JSON mode: strict types, but ISO strings are accepted for datetimes and UUIDs.
        if raw.get("schema_version") == model.schema_version_current:
            return model.model_validate_json(data)
        return model.model_validate_json(json.dumps(model.upgrade(raw)))
    except ValidationError as exc:
        raise _violation(str(event_type), exc) from exc


def _violation(event_type: str, exc: ValidationError) -> DecodeError:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
    return DecodeError("SCHEMA_VIOLATION", f"invalid {event_type}: {problems}")


def encode(event: Envelope[Any]) -> bytes:
    return event.model_dump_json().encode()
