"""The committed AsyncAPI documents are what the code generates, and they say useful things."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import agents
from agents.runtime.specification import emitted_event_types
from chimera.cli import app
from chimera.docs.asyncapi import agent_document, document_settings
from core.settings import PROJECT_ROOT
from events import EVENTS, Topics

DOCS = PROJECT_ROOT / "docs" / "asyncapi"
runner = CliRunner()


def _document(agent: str) -> dict[str, Any]:
    return json.loads((DOCS / f"{agent}.json").read_text())


def _payload_refs(document: dict[str, Any], channel: dict[str, Any]) -> set[str]:
    """The schema names a channel's message payload points to (one model or anyOf)."""
    (message_ref,) = channel["messages"].values()
    message = document["components"]["messages"][message_ref["$ref"].rsplit("/", 1)[1]]
    payload = message["payload"]
    if "$ref" in payload:
        name = payload["$ref"].rsplit("/", 1)[1]
        payload = document["components"]["schemas"][name]
        if "anyOf" not in payload:
            return {name}
    return {ref["$ref"].rsplit("/", 1)[1] for ref in payload["anyOf"]}


def test_the_committed_documents_are_up_to_date() -> None:
    """CI runs the check: change a contract or a subscription, regenerate the documents."""
    result = runner.invoke(app, ["asyncapi", "--check", "--out", str(DOCS)])
    assert result.exit_code == 0, (
        f"{result.output}\nRun `chimera asyncapi` and commit docs/asyncapi/."
    )
    assert sorted(p.name for p in DOCS.glob("*.json")) == sorted(f"{a}.json" for a in agents.AGENTS)


def test_check_names_the_stale_and_missing_documents(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi"
    shutil.copytree(DOCS, out)
    doc = json.loads((out / "generate.json").read_text())
    doc["info"]["description"] = "edited by hand"
    (out / "generate.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "audit.json").unlink()

    result = runner.invoke(app, ["asyncapi", "--check", "--out", str(out)])

    assert result.exit_code == 1
    assert f"stale: {out / 'generate.json'}" in result.output
    assert f"stale: {out / 'audit.json'}" in result.output
    assert "research.json" not in result.output
    assert not (out / "audit.json").exists(), "--check writes nothing"


def test_writing_then_checking_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    written = runner.invoke(app, ["asyncapi", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{a}.json" for a in agents.AGENTS)
    for path in out.iterdir():
        assert path.read_text() == (DOCS / path.name).read_text()
    assert runner.invoke(app, ["asyncapi", "--check", "--out", str(out)]).exit_code == 0


@pytest.mark.parametrize("agent", list(agents.AGENTS))
def test_each_consumed_channel_carries_the_envelopes_the_subscription_accepts(agent: str) -> None:
    document = _document(agent)
    runtime = agents.build(agent, document_settings())
    assert runtime.subscriptions, f"{agent} consumes nothing?"
    for sub in runtime.subscriptions:
        channel = document["channels"][sub.name]
        assert channel["address"] == sub.topic
        assert _payload_refs(document, channel) == set(sub.accepted)
        assert document["operations"][sub.name]["action"] == "receive"
        assert runtime.group in channel["description"]


@pytest.mark.parametrize("agent", list(agents.AGENTS))
def test_each_produced_channel_carries_what_the_agent_emits(agent: str) -> None:
    document = _document(agent)
    topics = Topics(document_settings().topic_prefix)
    sent: dict[str, set[str]] = {}
    for channel_name, channel in document["channels"].items():
        if document["operations"][channel_name]["action"] == "send":
            sent.setdefault(channel["address"], set()).update(_payload_refs(document, channel))
    expected: dict[str, set[str]] = {}
    for event_type in emitted_event_types(agents.build(agent, document_settings())):
        expected.setdefault(topics.stream_of(event_type), set()).add(event_type)
    expected.setdefault(topics.alerts, set()).add("OperatorAlert")  # alerts on dead letters
    for sub in agents.build(agent, document_settings()).subscriptions:
        assert Topics.dlq(sub.topic) in sent, f"{agent}: no dead-letter channel for {sub.topic}"
        del sent[Topics.dlq(sub.topic)]
    assert sent == expected


def test_the_declarations_say_what_each_agent_is_for() -> None:
    """The declared events, checked against what each agent is for (the end-to-end pipeline
    test checks them against what the agents really put in their outboxes)."""

    def emitted(agent: str) -> list[str]:
        return emitted_event_types(agents.build(agent, document_settings()))

    assert emitted("research") == ["TrendDiscovered", "AuditRecorded", "OperatorAlert"]
    assert set(emitted("orchestrator")) >= {"ContentRequested", "PublishRequested"}
    assert set(emitted("generate")) >= {"ContentReady", "ContentFailed"}
    assert set(emitted("publish")) >= {"Published", "PublishFailed", "EngagementRecorded"}
    assert emitted("audit") == ["OperatorAlert"]  # the sink only stores (and dead-letters)


@pytest.mark.parametrize("agent", list(agents.AGENTS))
def test_event_schemas_keep_their_descriptions_and_examples(agent: str) -> None:
    schemas = _document(agent)["components"]["schemas"]
    present = [name for name in EVENTS if name in schemas]
    assert present
    for name in present:
        model_schema = EVENTS[name].model_json_schema()
        assert schemas[name]["description"] == model_schema["description"]
        assert schemas[name]["examples"] == model_schema["examples"]


@pytest.mark.parametrize("agent", list(agents.AGENTS))
def test_documents_hold_nothing_from_this_machine_or_run(agent: str) -> None:
    text = (DOCS / f"{agent}.json").read_text()
    document = json.loads(text)
    assert str(PROJECT_ROOT) not in text
    assert "127.0.0.1" not in text and "localhost" not in text
    assert document["servers"]["development"]["host"] == "kafka:9092"
    # generated twice in one process: identical
    assert agent_document(agent).text() == agent_document(agent).text() == text


def test_a_running_deployment_can_serve_its_own_document() -> None:
    """`specification(runtime)` describes that runtime's own prefix, servers and group, so it
    can back `FastStream(specification=...)` for `faststream docs serve`."""
    from agents.runtime.specification import specification
    from core.settings import Settings

    settings = Settings(KAFKA_BOOTSTRAP_SERVERS="broker-a:9093", topic_prefix="staging")
    runtime = agents.build("generate", settings)
    document = specification(runtime).to_specification().to_jsonable()
    assert document["servers"]["development"]["host"] == "broker-a:9093"
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {
        "staging.content.requests",
        "staging.content.events",
        "staging.content.requests.dlq",
        "staging.audit",
        "staging.alerts",
    }
    assert "staging.generate" in document["channels"]["generate.requests"]["description"]
