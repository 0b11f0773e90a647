"""Each agent's AsyncAPI 3.0 document, generated from the code (`chimera asyncapi`).

What goes into an agent's document, and where it comes from:
- the channels it consumes: its `Subscription`s (topic, consumer group, accepted event types),
  taken from the agent's own `build(settings)`; each message is the union of the event
  envelope models it accepts (`events.EVENTS`), with their descriptions and examples;
- the channels it produces to: the events its package creates (`<Event>.create(...)`,
  `tx.audit(...)` -> AuditRecorded, `tx.alert(...)` -> OperatorAlert, skill calls ->
  AuditRecorded), found by reading the agent's source, each on its stream's topic
  (`Topics.stream_of`); plus, for every topic it consumes, the dead-letter topic `<topic>.dlq`
  (the original record's bytes) and the alerts topic (an alert per dead letter).

The agents themselves consume raw bytes (their decoder is strict and dead-letters what does not
validate), so their FastStream brokers would document every message as `bytes`. The documents
are therefore built on a documentation-only broker that is never started: the same topics and
group, with the event models as message payloads.

The documents are deterministic: fixed servers (the compose file's `kafka:9092`), the default
topic prefix `chimera`, no ids, paths or times from the machine or the run. `--check` compares
the committed files with what the code generates, so a contract change without regenerated
documents fails the tests.
"""

from __future__ import annotations

import ast
import importlib
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from chimera.settings import PROJECT_ROOT, Settings
from events import EVENTS, Topics
from events.envelope import Envelope

if TYPE_CHECKING:
    from agents.runtime import AgentRuntime

DEFAULT_OUT = Path("docs/asyncapi")
DOCUMENT_SERVERS = "kafka:9092"
DOCUMENT_PREFIX = "chimera"

# Calls on any object that emit a given event type through the transaction's outbox.
_EMITTING_METHODS = {"audit": "AuditRecorded", "alert": "OperatorAlert"}


def document_settings() -> Settings:
    """Settings for the documents: the compose deployment's names, nothing from this machine."""
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=DOCUMENT_SERVERS,
        KAFKA_SECURITY_PROTOCOL="PLAINTEXT",
        DATABASE_URL="postgresql://chimera@postgres:5432/chimera",
        topic_prefix=DOCUMENT_PREFIX,
        state_dir=Path("/data"),
    )


def emitted_event_types(agent: str) -> list[str]:
    """The event types the agent's package puts on Kafka, found in its source (sorted)."""
    import agents

    package = agents.AGENTS[agent].rsplit(".", 1)[0]
    folder = PROJECT_ROOT / package.replace(".", "/")
    found: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in EVENTS:
                found.add(func.id)
            elif isinstance(func, ast.Attribute):
                owner = func.value
                if (isinstance(owner, ast.Name) and owner.id in EVENTS
                        and func.attr in {"create", "model_construct", "model_validate"}):
                    found.add(owner.id)
                elif func.attr in _EMITTING_METHODS:
                    found.add(_EMITTING_METHODS[func.attr])
                elif (isinstance(owner, ast.Attribute) and owner.attr == "skills"):
                    found.add("AuditRecorded")  # every skill call is audited by the runtime
    return [name for name in EVENTS if name in found]


def _message_type(event_types: list[str] | tuple[str, ...]) -> Any:
    models = tuple(EVENTS[t] for t in event_types)
    return models[0] if len(models) == 1 else Union[models]  # noqa: UP007


def _documentation_handler(event_types: tuple[str, ...]) -> Callable[..., Any]:
    """A handler that is never called: its parameter's type is the message's schema."""

    async def handler(event: Envelope[Any]) -> None:
        raise AssertionError("documentation only")

    handler.__annotations__ = {"event": _message_type(event_types), "return": None}
    return handler


@dataclass(frozen=True)
class AgentDocument:
    """One agent's document, ready to write."""

    agent: str
    document: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"{self.agent}.json"

    def text(self) -> str:
        return json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"


def _project_version() -> str:
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def agent_document(agent: str) -> AgentDocument:
    """Generate `agent`'s AsyncAPI document from its code (deterministic, for docs/asyncapi)."""
    import agents

    runtime = agents.build(agent, document_settings())  # objects only: nothing connects
    spec = specification(runtime).to_specification()
    return AgentDocument(agent, _stable(spec.to_jsonable()))


def specification(runtime: AgentRuntime) -> AsyncAPI:
    """The AsyncAPI factory of a built agent: its subscriptions' topics and group with the event
    models as payloads, and what it produces. Also fit for `FastStream(specification=...)`."""
    import agents

    agent = runtime.name
    settings = runtime.settings
    topics = Topics(settings.topic_prefix)
    broker = KafkaBroker(
        settings.bootstrap_servers,
        description=f"The Kafka cluster; topics under the prefix `{settings.topic_prefix}` "
                    "(CHIMERA_TOPIC_PREFIX).",
    )

    for sub in runtime.subscriptions:
        accepted = ", ".join(sub.accept)
        broker.subscriber(
            sub.topic,
            group_id=runtime.group,
            title=sub.name,
            description=(
                f"Consumer group `{runtime.group}` reads {accepted} (JSON envelope, one event "
                f"per record) in batches of up to {sub.max_records}, at least once; duplicates "
                "are dropped by `event_id`. A record that is not a valid "
                f"{' or '.join(sub.accept)} goes to `{Topics.dlq(sub.topic)}`."),
        )(_documentation_handler(sub.accept))

    by_topic: dict[str, list[str]] = {}
    for event_type in emitted_event_types(agent) if agent in agents.AGENTS else []:
        by_topic.setdefault(topics.stream_of(event_type), []).append(event_type)
    if runtime.subscriptions:
        # the runtime raises an OperatorAlert for every dead letter
        by_topic.setdefault(topics.alerts, [])
        if "OperatorAlert" not in by_topic[topics.alerts]:
            by_topic[topics.alerts].append("OperatorAlert")
    for topic, event_types in sorted(by_topic.items()):
        names = " or ".join(event_types)
        broker.publisher(
            topic,
            title=f"{topic}:{agent}",
            schema=_message_type(event_types),
            description=(f"{names}, written to the outbox in the transaction that decided "
                         "it and relayed to Kafka (acks=all, idempotent producer)."),
        )
    for sub in runtime.subscriptions:
        dlq = Topics.dlq(sub.topic)
        broker.publisher(
            dlq,
            title=f"{dlq}:{agent}",
            schema=bytes,
            description=(f"Dead letters of `{sub.topic}`: the original record (value, key, "
                         "headers) unchanged, plus `chimera.dlq.*` headers saying why. Each "
                         f"one raises an OperatorAlert on `{topics.alerts}`."),
        )

    doc = ""
    if agent in agents.AGENTS:
        doc = (importlib.import_module(agents.AGENTS[agent]).__doc__ or "").strip()
    return AsyncAPI(
        broker,
        title=f"Chimera {agent} agent",
        version=_project_version(),
        description=doc,
        identifier=f"urn:chimera:agent:{agent}",
        schema_version="3.0.0",
    )


def _stable(document: dict[str, Any]) -> dict[str, Any]:
    """Fix what FastStream leaves to chance or to its own conventions.

    - Channels, operations, messages and schemas are sorted by name: FastStream keeps its
      endpoints in a set, so their order changes from one process to the next.
    - An event's correlation id is in its envelope (`correlation_id`), not in a header; a dead
      letter is the original bytes and has none.
    """
    for message in document.get("components", {}).get("messages", {}).values():
        if ".dlq:" in message.get("title", ""):
            message.pop("correlationId", None)
        else:
            message["correlationId"] = {
                "description": "The workflow's id, the same on every event it causes.",
                "location": "$message.payload#/correlation_id",
            }
    for key in ("channels", "operations"):
        if key in document:
            document[key] = dict(sorted(document[key].items()))
    components = document.get("components", {})
    for key in ("messages", "schemas"):
        if key in components:
            components[key] = dict(sorted(components[key].items()))
    return document


def generate_all() -> list[AgentDocument]:
    """Every agent's document, in `agents.AGENTS` order."""
    import agents

    return [agent_document(name) for name in agents.AGENTS]


def write(out: Path) -> list[Path]:
    """Write every agent's document into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in generate_all():
        path = out / doc.filename
        path.write_text(doc.text())
        written.append(path)
    return written


def stale(out: Path) -> list[Path]:
    """The documents in `out` that are missing or differ from what the code generates."""
    problems = []
    for doc in generate_all():
        path = out / doc.filename
        if not path.is_file() or path.read_text() != doc.text():
            problems.append(path)
    return problems
