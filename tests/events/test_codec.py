"""Strict decoding at the edges and schema versions."""

from __future__ import annotations

import json
import uuid

import pytest

from events import DecodeError, TrendDiscovered, decode, encode
from events.catalog import ContentRequested
from tests.support import trend


def raw(event: TrendDiscovered) -> dict:
    return json.loads(encode(event))


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda d: d["payload"].update(extra=1), "SCHEMA_VIOLATION"),
        (lambda d: d["payload"]["engagement_metrics"].update(views="12"), "SCHEMA_VIOLATION"),
        (lambda d: d["payload"].update(platform="myspace"), "SCHEMA_VIOLATION"),
        (lambda d: d["payload"].update(timestamp="2026-01-01T00:00:00"), "SCHEMA_VIOLATION"),
        (lambda d: d.update(schema_version=99), "SCHEMA_VIOLATION"),
        (lambda d: d.update(event_type="Nope"), "UNKNOWN_EVENT_TYPE"),
        (lambda d: d.pop("correlation_id"), "SCHEMA_VIOLATION"),
    ],
)
def test_invalid_events_are_refused_with_a_code(mutate, code) -> None:  # type: ignore[no-untyped-def]
    data = raw(TrendDiscovered.create(trend(1), producer="p"))
    mutate(data)
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(data).encode())
    assert caught.value.code == code


def test_round_trip_and_topic_expectations() -> None:
    event = TrendDiscovered.create(trend(1), producer="p")
    assert decode(encode(event)) == event
    with pytest.raises(DecodeError) as caught:
        decode(encode(event), accept=("ContentRequested",))
    assert caught.value.code == "UNEXPECTED_EVENT_TYPE"
    for bad, code in [
        (b"\xff\xfe", "INVALID_JSON"),
        (b"[1]", "INVALID_ENVELOPE"),
        (None, "EMPTY_MESSAGE"),
    ]:
        with pytest.raises(DecodeError) as caught:
            decode(bad)
        assert caught.value.code == code


def test_lineage_is_copied_from_the_cause() -> None:
    cause = TrendDiscovered.create(trend(1), producer="p")
    assert cause.correlation_id == cause.event_id and cause.causation_id is None
    effect = TrendDiscovered.create(trend(2), producer="q", causation=cause, event_id=uuid.uuid4())
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.event_id


def test_older_schema_versions_are_upgraded_when_accepted() -> None:
    class TrendDiscoveredV2(TrendDiscovered):
        schema_version_current = 2
        schema_versions_accepted = frozenset({1, 2})

        @classmethod
        def upgrade(cls, data: dict) -> dict:  # type: ignore[override]
            return {**data, "schema_version": 2}

    v1 = raw(TrendDiscovered.create(trend(1), producer="p"))
    upgraded = TrendDiscoveredV2.model_validate_json(json.dumps(TrendDiscoveredV2.upgrade(v1)))
    assert upgraded.schema_version == 2
    assert ContentRequested.schema_versions_accepted == frozenset({1})
