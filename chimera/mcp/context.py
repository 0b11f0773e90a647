"""What the MCP server's tools, resources and prompts work with: `Deps`, built once in the
server's lifespan (never at import time), and the `ToolContext` of one call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from chimera.mcp.audit import McpAuditor
from chimera.mcp.caller import Caller
from core.db import Conn
from core.settings import Settings
from events import Topics
from skills.context import SkillContext


@dataclass(frozen=True)
class Deps:
    """The server's resources: settings, a pool, one producer, a skill context, the auditor."""

    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    skills: SkillContext
    auditor: McpAuditor
    stdio_caller: Caller | None = None
    #: How long a review tool waits for the orchestrator to apply or refuse its decision.
    decision_wait_s: float = 10.0

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_prefix)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Conn]:
        """A connection in a READ ONLY transaction: what assistants read can never write."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            yield conn


@dataclass
class ToolContext:
    """One tool call: the server's resources, the caller, and what the audit will say."""

    deps: Deps
    caller: Caller
    tool: str
    key: uuid.UUID = field(default_factory=uuid.uuid4)
    facts: dict[str, Any] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)
    pending: bool = False

    async def changing(self, key: uuid.UUID, **facts: Any) -> None:
        """Say what the call is about to change (its key: the id of the effect); the
        `pending` audit entry is written now, before anything changes."""
        self.key = key
        self.facts.update(facts)
        await self.deps.auditor.record(
            caller=self.caller,
            tool=self.tool,
            key=key,
            status="pending",
            arguments=self.arguments,
            facts=self.facts,
        )
        self.pending = True
