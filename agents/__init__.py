"""Chimera's agents, one FastStream service each, and the registry of their builders."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.runtime import AgentRuntime
    from core.settings import Settings

# name -> module with `build(settings) -> AgentRuntime` and `create_app()` (faststream --factory)
AGENTS: dict[str, str] = {
    "research": "agents.research.app",
    "orchestrator": "agents.orchestrator.app",
    "generate": "agents.generate.app",
    "publish": "agents.publish.app",
    "audit": "agents.audit.app",
}


def build(name: str, settings: Settings) -> AgentRuntime:
    """The named agent's runtime, built from `settings` as the agent's own principal (nothing
    starts until it runs)."""
    module = importlib.import_module(AGENTS[name])
    # The runtime makes it authenticate as itself (Kafka user and PostgreSQL role).
    runtime: AgentRuntime = module.build(settings)
    return runtime
