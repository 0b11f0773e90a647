"""Each agent's AsyncAPI 3.0 document, written to docs/asyncapi/ (`chimera asyncapi`).

The specification comes from what each agent declares (`agents.runtime.specification`); this
module only makes it deterministic and writes or checks the files. The documents use fixed
servers (the compose file's `kafka:9092`), the default topic prefix `chimera`, and nothing from
the machine or the run. `--check` compares the committed files with what the code generates, so
a contract change without regenerated documents fails the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import agents
from agents.runtime.specification import specification
from core.settings import Settings

DEFAULT_OUT = Path("docs/asyncapi")
DOCUMENT_SERVERS = "kafka:9092"
DOCUMENT_PREFIX = "chimera"


def document_settings() -> Settings:
    """Settings for the documents: the compose deployment's names, nothing from this machine."""
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=DOCUMENT_SERVERS,
        KAFKA_SECURITY_PROTOCOL="PLAINTEXT",
        DATABASE_URL="postgresql://chimera@postgres:5432/chimera",
        topic_prefix=DOCUMENT_PREFIX,
        state_dir=Path("/data"),
    )


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


def agent_document(agent: str) -> AgentDocument:
    """Generate `agent`'s AsyncAPI document from its declarations (deterministic)."""
    runtime = agents.build(agent, document_settings())  # objects only: nothing connects
    spec = specification(runtime).to_specification()
    return AgentDocument(agent, _stable(spec.to_jsonable()))


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
