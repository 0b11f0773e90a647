"""Every event contract documents itself: descriptions on every field, examples that validate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from events import EVENTS, DecodeError, decode, encode
from events.envelope import Envelope


def _own_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """`model` and every model of the `events` package nested in its fields."""
    found: list[type[BaseModel]] = []

    def visit(candidate: Any) -> None:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if candidate in found or not candidate.__module__.startswith("events."):
                return
            found.append(candidate)
            for field in candidate.model_fields.values():
                visit(field.annotation)
        for arg in getattr(candidate, "__args__", ()):
            visit(arg)

    visit(model)
    return found


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_event_has_a_description_and_examples(name: str) -> None:
    schema = EVENTS[name].model_json_schema()
    assert schema.get("description", "").strip(), f"{name} has no description (docstring)"
    assert schema.get("examples"), f"{name} has no examples"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_field_of_every_event_model_is_described(name: str) -> None:
    models = _own_models(EVENTS[name])
    # the envelope, its payload and (for trends) the trend's metrics at least
    assert len(models) >= 2
    for model in models:
        for field_name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{field_name} has no description"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_example_is_a_valid_event_of_its_type(name: str) -> None:
    model = EVENTS[name]
    for example in model.model_json_schema()["examples"]:
        raw = json.dumps(example).encode()
        # exactly what a consumer does with bytes from Kafka (strict, JSON mode)
        event = decode(raw, accept=(name,))
        assert isinstance(event, model)
        assert event.event_type == name
        # and it survives a round trip unchanged
        assert decode(encode(event)) == event


def test_examples_are_checked_strictly() -> None:
    """The example check above would catch a broken example: an unknown field is refused."""
    example = dict(EVENTS["ContentReady"].model_json_schema()["examples"][0])
    example["payload"] = {**example["payload"], "colour": "red"}
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(example).encode())
    assert caught.value.code == "SCHEMA_VIOLATION"


def test_examples_are_fixed_so_generated_documents_are_stable() -> None:
    first = {n: m.model_json_schema() for n, m in EVENTS.items()}
    second = {n: m.model_json_schema() for n, m in EVENTS.items()}
    assert first == second
    ids = [m.model_json_schema()["examples"][0]["event_id"] for m in EVENTS.values()]
    assert len(set(ids)) == len(ids), "each example has its own event id"


def test_envelope_fields_are_described() -> None:
    for field_name, field in Envelope.model_fields.items():
        assert field.description, f"Envelope.{field_name} has no description"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_examples_of_nested_models_validate_too(name: str) -> None:
    for model in _own_models(EVENTS[name]):
        for example in model.model_json_schema().get("examples", []):
            model.model_validate_json(json.dumps(example))
