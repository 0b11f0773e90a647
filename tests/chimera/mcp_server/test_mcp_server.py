"""Chimera's MCP server, exercised by clients nobody here wrote, over both transports:
the official Python SDK's `Client` and the TypeScript SDK's `Client` (npm, driven by
ts_client.mjs). The server runs as `chimera mcp serve [--http]` in its own process, against
the real broker and database; the research and audit agents run in this process, so an
injected trend is seen reaching the trends table and every call's audit entry the audit_logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from agents.audit.app import build as build_audit
from agents.orchestrator.app import build as build_orchestrator
from agents.research.app import build as build_research
from agents.research.handlers import ResearchSettings
from chimera.auth import users
from core.credentials import process_env
from core.errors import PermanentError, ValidationError
from core.settings import Settings
from events import ApproveContent, Topics, decode
from skills.mcp.client import connect as connect_server
from skills.settings.mcp import NODE_MODULES, McpServerConfig
from tests.agents.orchestrator.test_approval import GATED, hold_one, video_file
from tests.support import read_topic, trend, wait_for

CHIMERA = str(Path(sys.executable).parent / "chimera")
TS_CLIENT = Path(__file__).parent / "ts_client.mjs"
PEOPLE = {"operator": "olga", "reviewer": "maria", "viewer": "vic"}
PIPELINE_TOOLS = {
    "inject_trends",
    "list_trends",
    "list_content",
    "show_content",
    "list_publications",
    "show_publication",
    "list_audit_entries",
    "pipeline_status",
    "list_dead_letters",
    "plan_replay",
    "approve_content",
    "reject_content",
    "request_publication",
}


@pytest.fixture(autouse=True)
def node_packages() -> None:
    assert (NODE_MODULES / "@modelcontextprotocol" / "sdk").is_dir(), "run scripts/setup.sh"


@pytest.fixture
async def tokens(pool: asyncpg.Pool) -> dict[str, str]:
    found = {}
    for role, name in PEOPLE.items():
        await users.add_user(pool, name, role, f"{name}-password-long")
        found[role] = await users.create_token(pool, name, "tests")
    return found


def server_env(settings: Settings) -> dict[str, str]:
    """The test's connection and credentials file: the server runs as the operator principal,
    as `chimera mcp serve` does in a deployment."""
    return {
        **process_env(settings),
        "CHIMERA_STATE_DIR": str(settings.state_dir),
        "CHIMERA_MEDIA_DIR": str(settings.media_root),
        "CHIMERA_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def agents_running(settings: Settings) -> AsyncIterator[None]:
    """The research agent (stores trends), the orchestrator with the approval gate on (holds
    content, applies decisions) and the audit sink (stores audit entries)."""
    research = build_research(settings, ResearchSettings(interval_seconds=0))
    orchestrator = build_orchestrator(settings, GATED)
    audit = build_audit(settings)
    async with audit.running(), research.running(), orchestrator.running():
        yield


@pytest.fixture
async def http_url(settings: Settings, tokens: dict[str, str]) -> AsyncIterator[str]:
    """`chimera mcp serve --http --port 0` in its own process; its URL."""
    del tokens
    proc = await asyncio.create_subprocess_exec(
        CHIMERA,
        *("mcp", "serve", "--http", "--port", "0"),
        env={**os.environ, **server_env(settings)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    lines: list[str] = []

    async def drain() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            if line.startswith("listening on ") and not url.done():
                url.set_result(line.removeprefix("listening on "))

    draining = asyncio.create_task(drain())
    try:
        yield await asyncio.wait_for(url, 90)
    except TimeoutError:
        raise AssertionError("the HTTP server did not start:\n" + "\n".join(lines)) from None
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        draining.cancel()
    assert not [line for line in lines if "Traceback" in line], "\n".join(lines)


async def held(settings: Settings, pool: asyncpg.Pool, n: int, tmp_path: Path) -> str:
    """A content item the orchestrator holds for approval (through the real gate)."""
    folder = tmp_path / f"video-{n}"
    folder.mkdir()
    return await hold_one(settings, pool, n, video_file(folder))


def tool_error(result: Any) -> dict[str, Any]:
    """The specification's error in an MCP error result's text (is_error / isError)."""
    text = result["content"][0]["text"] if isinstance(result, dict) else result.content[0].text
    assert "Traceback" not in text
    error: dict[str, Any] = json.loads(text)["error"]
    assert set(error) >= {"code", "message", "details", "timestamp", "retryable", "category"}
    return error


def injected(n: int, transport: str) -> dict[str, Any]:
    return json.loads(
        trend(n, id=f"mcp:{transport}-{n}", topic=f"mcp {transport}").model_dump_json()
    )


async def trend_stored(pool: asyncpg.Pool, trend_id: str) -> None:
    async def stored() -> bool:
        return bool(await pool.fetchval("SELECT true FROM trends WHERE id = $1", trend_id))

    await wait_for(stored, 60, f"trend {trend_id} in the trends table")


async def approvals_on_topic(settings: Settings, expect: int) -> dict[str, str]:
    records = await read_topic(
        settings, Topics(settings.topic_prefix).review_commands, expect=expect
    )
    events = [decode(r.value) for r in records]
    assert all(isinstance(e, ApproveContent) for e in events)
    return {e.payload.content_id: e.payload.actor for e in events}


# --- the official Python SDK ----------------------------------------------------------------
Connect = Callable[[str], AbstractAsyncContextManager[Client]]


async def python_scenario(
    connect: Connect, pool: asyncpg.Pool, transport: str, content_id: str
) -> None:
    async with connect("operator") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= PIPELINE_TOOLS
        assert {"skill_fetch_trends", "skill_write_script", "skill_generate_video"} <= set(tools)
        assert "skill_publish_content" not in tools  # publishing is never a direct tool
        assert tools["list_content"].annotations.read_only_hint is True
        assert tools["reject_content"].annotations.destructive_hint is True
        assert tools["skill_generate_video"].annotations.read_only_hint is False
        assert tools["approve_content"].output_schema is not None

        templates = (await client.list_resource_templates()).resource_templates
        assert "chimera://content/{content_id}" in {t.uri_template for t in templates}
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert f"chimera://content/{content_id}" in uris
        read = await client.read_resource(f"chimera://content/{content_id}")
        assert json.loads(read.contents[0].text)["status"] == "awaiting_approval"

        listed = await client.call_tool("list_content", {"status": "awaiting_approval"})
        assert not listed.is_error
        assert content_id in {item["id"] for item in listed.structured_content["items"]}

        bad = await client.call_tool("list_content", {"limit": 0})
        assert bad.is_error and tool_error(bad)["code"] == "INVALID_INPUT"

        trend_json = injected(1, transport)
        sent = await client.call_tool("inject_trends", {"trends": [trend_json]})
        assert not sent.is_error, sent.content
        assert sent.structured_content["sent"] == 1
        await trend_stored(pool, trend_json["id"])

    async with connect("reviewer") as client:
        approved = await client.call_tool("approve_content", {"content_id": content_id})
        assert not approved.is_error, approved.content
        assert approved.structured_content["actor"] == PEOPLE["reviewer"]
        assert approved.structured_content["outcome"] == "applied"  # by the orchestrator
        again = await client.call_tool("approve_content", {"content_id": content_id})
        assert tool_error(again)["code"] == "NOT_AWAITING_APPROVAL"
        refused = await client.call_tool("inject_trends", {"trends": [injected(2, transport)]})
        assert refused.is_error and tool_error(refused)["code"] == "FORBIDDEN"

    async with connect("viewer") as client:
        refused = await client.call_tool("approve_content", {"content_id": content_id})
        assert refused.is_error
        error = tool_error(refused)
        assert error["code"] == "FORBIDDEN" and error["category"] == "permanent"
        assert "viewer" in error["message"] and "reviewer" in error["message"]
        missing = await client.call_tool("show_content", {"content_id": "no-such"})
        assert tool_error(missing)["code"] == "NO_SUCH_CONTENT"


# --- the TypeScript SDK -------------------------------------------------------------------------
async def run_ts(plan: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(TS_CLIENT),
        json.dumps(plan),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def ts_scenario(
    where: Callable[[str | None], dict[str, Any]],
    pool: asyncpg.Pool,
    transport: str,
    content_id: str,
) -> None:
    trend_json = injected(3, transport)
    operator = await run_ts(
        {
            **where("operator"),
            "steps": [
                {"do": "listTools"},
                {"do": "listResources"},
                {"do": "listResourceTemplates"},
                {"do": "readResource", "uri": f"chimera://content/{content_id}"},
                {"do": "callTool", "name": "show_content", "arguments": {"content_id": content_id}},
                {"do": "callTool", "name": "inject_trends", "arguments": {"trends": [trend_json]}},
                {"do": "listPrompts"},
            ],
        }
    )
    assert operator["connected"], operator
    assert operator["server"]["name"] == "chimera"
    tools_step, resources_step, templates_step, read_step, show_step, inject_step, prompts = (
        operator["results"]
    )
    assert all(step["ok"] for step in operator["results"]), operator["results"]
    tools = {t["name"]: t for t in tools_step["value"]["tools"]}
    assert set(tools) >= PIPELINE_TOOLS and "skill_publish_content" not in tools
    assert tools["list_trends"]["annotations"]["readOnlyHint"] is True
    assert tools["inject_trends"]["annotations"]["readOnlyHint"] is False
    assert f"chimera://content/{content_id}" in {
        r["uri"] for r in resources_step["value"]["resources"]
    }
    assert "chimera://trends/{trend_id}" in {
        t["uriTemplate"] for t in templates_step["value"]["resourceTemplates"]
    }
    assert json.loads(read_step["value"]["contents"][0]["text"])["id"] == content_id
    # The TypeScript client checks structuredContent against the tool's outputSchema itself.
    assert show_step["value"]["structuredContent"]["item"]["id"] == content_id
    assert inject_step["value"]["structuredContent"]["sent"] == 1
    assert {"daily_briefing", "investigate_content"} <= {
        p["name"] for p in prompts["value"]["prompts"]
    }
    await trend_stored(pool, trend_json["id"])

    reviewer = await run_ts(
        {
            **where("reviewer"),
            "steps": [
                {
                    "do": "callTool",
                    "name": "approve_content",
                    "arguments": {"content_id": content_id},
                }
            ],
        }
    )
    (approve,) = reviewer["results"]
    assert approve["ok"] and not approve["value"].get("isError"), approve
    assert approve["value"]["structuredContent"]["actor"] == PEOPLE["reviewer"]
    assert approve["value"]["structuredContent"]["outcome"] == "applied"

    viewer = await run_ts(
        {
            **where("viewer"),
            "steps": [
                {
                    "do": "callTool",
                    "name": "approve_content",
                    "arguments": {"content_id": content_id},
                },
                {"do": "callTool", "name": "list_trends", "arguments": {"limit": 5}},
            ],
        }
    )
    refused, listed = viewer["results"]
    assert refused["ok"] and refused["value"]["isError"] is True
    assert tool_error(refused["value"])["code"] == "FORBIDDEN"
    assert listed["ok"] and not listed["value"].get("isError")
    assert trend_json["id"] in {t["id"] for t in listed["value"]["structuredContent"]["items"]}


# --- the tests ------------------------------------------------------------------------------------
async def audit_rows(
    pool: asyncpg.Pool, expect: Callable[[list[asyncpg.Record]], bool]
) -> list[Any]:
    rows: list[asyncpg.Record] = []

    async def stored() -> bool:
        rows[:] = await pool.fetch("SELECT * FROM audit_logs WHERE agent_id = 'mcp'")
        return expect(rows)

    await wait_for(stored, 60, "the MCP calls' audit entries")
    return rows


async def test_streamable_http_with_the_python_and_typescript_sdks(
    settings: Settings,
    pool: asyncpg.Pool,
    tokens: dict[str, str],
    agents_running: None,
    http_url: str,
    tmp_path: Path,
) -> None:
    py_content = await held(settings, pool, 11, tmp_path)
    ts_content = await held(settings, pool, 12, tmp_path)

    @asynccontextmanager
    async def connect(role: str) -> AsyncIterator[Client]:
        async with (
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=60
            ) as http,
            Client(streamable_http_client(http_url, http_client=http)) as client,
        ):
            yield client

    await python_scenario(connect, pool, "http-py", py_content)
    await ts_scenario(
        lambda role: {
            "transport": "http",
            "url": http_url,
            "token": tokens[role] if role else None,
        },
        pool,
        "http-ts",
        ts_content,
    )

    # Without a token (or with a wrong one): 401 before any MCP message is read.
    async with httpx2.AsyncClient(timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer chm_nope_nope"}):
            response = await http.post(
                http_url,
                headers={**headers, "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            )
            assert response.status_code == 401
    anonymous = await run_ts({"transport": "http", "url": http_url, "steps": [{"do": "listTools"}]})
    assert anonymous["connected"] is False and "401" in json.dumps(anonymous["error"])

    # Chimera's own MCP client over Streamable HTTP, within its allowlist.
    remote = McpServerConfig(
        url=http_url, token=tokens["viewer"], tools=["list_trends"], timeout_s=60
    )
    async with connect_server("chimera", remote) as server:
        assert [t.name for t in server.tools] == ["list_trends"]
        reply = await server.call("list_trends", {"limit": 3})
        assert reply.structured is not None and reply.structured["count"] <= 3
        with pytest.raises(ValidationError, match="not allowlisted"):
            await server.call("approve_content", {"content_id": py_content})
    with pytest.raises(PermanentError) as refused:
        async with connect_server(
            "chimera", remote.model_copy(update={"token": SecretStr("chm_x_y")})
        ):
            pass
    assert refused.value.code == "MCP_UNAUTHORIZED"

    assert await approvals_on_topic(settings, expect=2) == {
        py_content: PEOPLE["reviewer"],
        ts_content: PEOPLE["reviewer"],
    }
    rows = await audit_rows(
        pool, lambda rows: sum(r["action"] == "mcp:approve_content" for r in rows) >= 6
    )
    by = [(r["action"], r["status"], json.loads(r["input_data"])["caller"]["name"]) for r in rows]
    assert by.count(("mcp:approve_content", "success", "maria")) == 2
    assert by.count(("mcp:approve_content", "pending", "maria")) == 2
    assert by.count(("mcp:approve_content", "failure", "vic")) == 2
    assert by.count(("mcp:inject_trends", "success", "olga")) == 2
    for row in rows:  # the caller's token never reaches the audit trail
        assert tokens["operator"] not in row["input_data"] and "chm_" not in row["input_data"]


async def test_stdio_with_the_python_and_typescript_sdks(
    settings: Settings,
    pool: asyncpg.Pool,
    tokens: dict[str, str],
    agents_running: None,
    tmp_path: Path,
) -> None:
    py_content = await held(settings, pool, 21, tmp_path)
    ts_content = await held(settings, pool, 22, tmp_path)
    env = server_env(settings)

    @asynccontextmanager
    async def connect(role: str) -> AsyncIterator[Client]:
        params = StdioServerParameters(
            command=CHIMERA, args=["mcp", "serve"], env={**env, "CHIMERA_MCP_TOKEN": tokens[role]}
        )
        async with AsyncExitStack() as stack:
            yield await stack.enter_async_context(Client(params, read_timeout_seconds=60))

    await python_scenario(connect, pool, "stdio-py", py_content)
    await ts_scenario(
        lambda role: {
            "transport": "stdio",
            "command": CHIMERA,
            "args": ["mcp", "serve"],
            "env": {
                **env,
                "PATH": os.environ["PATH"],
                **({"CHIMERA_MCP_TOKEN": tokens[role]} if role else {}),
            },
        },
        pool,
        "stdio-ts",
        ts_content,
    )
    assert await approvals_on_topic(settings, expect=2) == {
        py_content: PEOPLE["reviewer"],
        ts_content: PEOPLE["reviewer"],
    }
    rows = await audit_rows(
        pool, lambda rows: sum(r["action"] == "mcp:approve_content" for r in rows) >= 6
    )
    transports = {json.loads(r["input_data"])["caller"]["transport"] for r in rows}
    assert transports == {"stdio"}


async def test_stdio_without_a_token_is_refused_in_one_line(settings: Settings) -> None:
    for token in (None, "chm_0000000000000000_not-a-real-token"):
        env = {**os.environ, **server_env(settings)}
        env.pop("CHIMERA_MCP_TOKEN", None)
        if token is not None:
            env["CHIMERA_MCP_TOKEN"] = token
        proc = await asyncio.create_subprocess_exec(
            CHIMERA,
            "mcp",
            "serve",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(b""), 90)
        assert proc.returncode == 1
        lines = err.decode().strip().splitlines()
        assert lines[-1].startswith("error: ") and "CHIMERA_MCP_TOKEN" in lines[-1], lines
        assert "Traceback" not in err.decode() and out == b""


def test_http_on_a_taken_port_is_refused_in_one_line() -> None:
    from typer.testing import CliRunner

    from chimera.cli import app

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["mcp", "serve", "--http", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
