"""The MCP server's tools, resources and prompts in detail, through the official Python SDK's
client connected in-process (the same handlers as over stdio and HTTP; real broker, real
database), acting as one user at a time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import SecretStr

from agents.orchestrator.app import build as build_orchestrator
from agents.repositories.trends import upsert_trend
from chimera.auth import users
from chimera.mcp import pipeline
from chimera.mcp.server import ChimeraMcp, open_deps
from chimera.mcp.tools import NOT_OFFERED, SKILL_HINTS, all_tools
from core.settings import Settings
from events import RejectContent, Topics, TrendDiscovered, decode
from skills import load_all
from skills.settings.script import ScriptSettings
from tests.agents.orchestrator.test_approval import GATED, hold_one, video_file
from tests.support import read_topic, trend

As = Callable[[str], AbstractAsyncContextManager[Client]]


@pytest.fixture
async def as_user(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[As]:
    tokens: dict[str, str] = {}
    for name, role in (("olga", "operator"), ("maria", "reviewer"), ("vic", "viewer")):
        await users.add_user(pool, name, role, f"{name}-password-long")
        tokens[name] = await users.create_token(pool, name)

    @asynccontextmanager
    async def connect(name: str) -> AsyncIterator[Client]:
        async with (
            open_deps(settings, "stdio", SecretStr(tokens[name]), decision_wait_s=15) as deps,
            Client(ChimeraMcp(deps).server) as client,
        ):
            yield client

    yield connect


def error_of(result: Any) -> dict[str, Any]:
    assert result.is_error
    text = result.content[0].text
    assert "Traceback" not in text
    error: dict[str, Any] = json.loads(text)["error"]
    return error


async def content(pool: asyncpg.Pool, content_id: str, status: str, n: int = 1) -> None:
    async with pool.acquire() as conn:
        await upsert_trend(conn, trend(n))
        await conn.execute(
            "INSERT INTO content (id, type, status, trend_id) VALUES ($1, 'video', $2, $3)",
            content_id,
            status,
            trend(n).id,
        )


def test_every_skill_is_decided() -> None:
    """A new skill is neither offered nor hidden by accident: it needs a decision here."""
    registry = load_all()
    assert set(registry) == set(SKILL_HINTS) | NOT_OFFERED | {"skill_write_script"}
    tools = all_tools(registry, ScriptSettings(_env_file=None), pipeline.TOOLS)  # type: ignore[call-arg]
    assert not NOT_OFFERED & set(tools)
    assert tools["skill_write_script"].hints.idempotent  # the template writer, no LLM
    for tool in tools.values():
        assert tool.input_schema["type"] == "object" and tool.output_schema["type"] == "object"


async def test_inject_validates_like_chimera_inject_and_is_idempotent(
    settings: Settings, as_user: As
) -> None:
    good = json.loads(trend(1).model_dump_json())
    other_event = {"event_type": "PublishRequested", "payload": {}}
    async with as_user("olga") as client:
        refused = await client.call_tool(
            "inject_trends", {"trends": [good, {"id": "x", "platform": "myspace"}]}
        )
        error = error_of(refused)
        assert error["code"] == "INVALID_TRENDS" and "nothing sent" in error["message"]
        assert error["details"]["problems"][0]["index"] == 1
        assert "SCHEMA_VIOLATION" in error["details"]["problems"][0]["reason"]

        smuggled = await client.call_tool("inject_trends", {"trends": [other_event]})
        assert error_of(smuggled)["code"] == "INVALID_TRENDS"

        first = await client.call_tool("inject_trends", {"trends": [good]})
        again = await client.call_tool("inject_trends", {"trends": [good]})
        assert first.structured_content["event_ids"] == again.structured_content["event_ids"]
        skipped = await client.call_tool(
            "inject_trends", {"trends": [good, {"nope": 1}], "skip_invalid": True}
        )
        assert skipped.structured_content["sent"] == 1
        assert len(skipped.structured_content["problems"]) == 1

    records = await read_topic(settings, Topics(settings.topic_prefix).trends, expect=3)
    events = [decode(r.value) for r in records]
    assert all(isinstance(e, TrendDiscovered) and e.producer == "mcp" for e in events)
    assert (
        len({e.event_id for e in events}) == 1
    )  # the same snapshot: one event id, dropped downstream


async def test_review_checks_the_gate_first_and_reports_the_outcome(
    settings: Settings, pool: asyncpg.Pool, as_user: As, tmp_path: Path
) -> None:
    await content(pool, "c-published", "published", 2)
    async with build_orchestrator(settings, GATED).running():
        waiting = await hold_one(settings, pool, 3, video_file(tmp_path))
        async with as_user("maria") as client:
            too_late = await client.call_tool("approve_content", {"content_id": "c-published"})
            error = error_of(too_late)
            assert error["code"] == "NOT_AWAITING_APPROVAL"
            assert "not waiting for approval" in error["message"]
            unknown = await client.call_tool(
                "reject_content", {"content_id": "nope", "reason": "x"}
            )
            assert error_of(unknown)["code"] == "NO_SUCH_CONTENT"
            no_reason = await client.call_tool("reject_content", {"content_id": waiting})
            assert error_of(no_reason)["code"] == "INVALID_INPUT"
            bad_edit = await client.call_tool(
                "approve_content", {"content_id": waiting, "edits": {"title": ""}}
            )
            assert error_of(bad_edit)["code"] == "INVALID_INPUT"
            rejected = await client.call_tool(
                "reject_content", {"content_id": waiting, "reason": "off brand"}
            )
            assert not rejected.is_error, rejected.content
            assert rejected.structured_content["decision"] == "reject"
            assert rejected.structured_content["actor"] == "maria"
            assert rejected.structured_content["outcome"] == "applied"
            second = await client.call_tool("approve_content", {"content_id": waiting})
            assert "already rejected by maria" in error_of(second)["message"]

    assert await pool.fetchval("SELECT status FROM content WHERE id = $1", waiting) == "rejected"
    (record,) = await read_topic(settings, Topics(settings.topic_prefix).review_commands, expect=1)
    event = decode(record.value)
    assert isinstance(event, RejectContent)
    assert (event.payload.actor, event.payload.reason) == ("maria", "off brand")
    assert record.key == waiting.encode()


async def test_a_request_for_publication_publishes_nothing(pool: asyncpg.Pool, as_user: As) -> None:
    await content(pool, "c-ready", "ready", 1)
    await content(pool, "c-out", "published", 2)
    async with as_user("vic") as client:
        asked = await client.call_tool(
            "request_publication", {"content_id": "c-ready", "note": "this one is great"}
        )
        assert not asked.is_error and "approval gate" in asked.structured_content["note"]
        assert (
            error_of(await client.call_tool("request_publication", {"content_id": "c-out"}))["code"]
            == "NOT_PUBLISHABLE"
        )
    assert await pool.fetchval("SELECT status FROM content WHERE id = 'c-ready'") == "ready"
    assert await pool.fetchval("SELECT count(*) FROM publications") == 0


async def test_reads_resources_and_prompts(
    settings: Settings, pool: asyncpg.Pool, as_user: As
) -> None:
    await content(pool, "c-1", "ready", 1)
    async with as_user("vic") as client:
        shown = await client.call_tool("show_content", {"content_id": "c-1"})
        assert shown.structured_content["item"]["workflow"] is None
        trends = await client.call_tool("list_trends", {})
        assert trends.structured_content["items"][0]["id"] == "feed:item-1"

        read = await client.read_resource("chimera://trends/feed%3Aitem-1")
        assert json.loads(read.contents[0].text)["topic"] == "topic 1"
        with pytest.raises(MCPError, match="no content"):
            await client.read_resource("chimera://content/none")
        with pytest.raises(MCPError, match="not a Chimera resource"):
            await client.read_resource("chimera://secrets/x")

        prompt = await client.get_prompt("investigate_content", {"content_id": "c-1"})
        assert "show_content" in prompt.messages[0].content.text
        with pytest.raises(MCPError):
            await client.get_prompt("investigate_content", {})

        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("drop_tables", {})

        dead = await client.call_tool("list_dead_letters", {})
        assert not dead.is_error and dead.structured_content["count"] == 0

        refused = await client.call_tool("plan_replay", {"agent": "research", "to": "earliest"})
        assert error_of(refused)["code"] == "FORBIDDEN"

    async with as_user("olga") as client:
        plan = await client.call_tool("plan_replay", {"agent": "research", "to": "earliest"})
        assert not plan.is_error, plan.content
        assert plan.structured_content["plan"]["executed"] is False
        assert "dry run" in plan.structured_content["note"]
        wrong = await client.call_tool("plan_replay", {"agent": "nobody", "to": "earliest"})
        assert error_of(wrong)["code"] == "INVALID_REPLAY"

        status = await client.call_tool("pipeline_status", {})
        assert not status.is_error and isinstance(status.structured_content["healthy"], bool)


async def test_skills_run_as_tools_with_their_schemas_and_errors(
    settings: Settings, pool: asyncpg.Pool, as_user: As
) -> None:
    script_input = {"trend": json.loads(trend(1).model_dump_json()), "writer": "template"}
    async with as_user("vic") as client:
        written = await client.call_tool("skill_write_script", script_input)
        assert not written.is_error, written.content
        assert written.structured_content["success"] is True
        assert written.structured_content["writer"] == "template"

        invalid = await client.call_tool("skill_write_script", {"trend": {"id": 1}})
        assert error_of(invalid)["code"] == "INVALID_INPUT"
        assert invalid.structured_content["success"] is False  # still the skill's own shape

        rendering = await client.call_tool("skill_generate_video", {})
        assert error_of(rendering)["code"] == "FORBIDDEN"  # it writes files: operators only

    async with as_user("olga") as client:
        outside = await client.call_tool(
            "skill_transcribe_audio", {"media_path": str(settings.media_root / "renders" / "x.mp4")}
        )
        # Skills called over MCP see only <media>/mcp, never the pipeline's own files.
        assert error_of(outside)["code"] == "PATH_OUTSIDE_MEDIA_ROOT"


async def test_audit_entries_name_the_caller_and_hide_secrets(
    settings: Settings, pool: asyncpg.Pool, as_user: As
) -> None:
    from agents.audit.app import build as build_audit
    from tests.support import wait_for

    async with as_user("vic") as client:
        await client.call_tool(
            "request_publication",
            {"content_id": "nope", "note": "mail me at someone@example.org, token=abc"},
        )
    async with build_audit(settings).running():

        async def stored() -> bool:
            return bool(
                await pool.fetchval("SELECT count(*) FROM audit_logs WHERE agent_id = 'mcp'")
            )

        await wait_for(stored, 30, "the audit entry")
    row = await pool.fetchrow("SELECT * FROM audit_logs WHERE agent_id = 'mcp'")
    assert row is not None
    assert row["action"] == "mcp:request_publication" and row["status"] == "failure"
    data = json.loads(row["input_data"])
    assert data["caller"] == {
        "name": "vic",
        "role": "viewer",
        "transport": "stdio",
        "token_id": data["caller"]["token_id"],
    }
    assert "someone@example.org" not in row["input_data"] and "[EMAIL]" in row["input_data"]
    assert json.loads(row["output_data"])["error"]["code"] == "NO_SUCH_CONTENT"
