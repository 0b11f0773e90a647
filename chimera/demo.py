"""`chimera demo`: the whole pipeline on the embedded default, start to finish.

Local stack, a fresh demo database, every agent and the audit sink as separate processes,
the bundled offline trend feed (read by the research agent on an injected `FetchTrends`
command), real rendering, the local publisher. Waits until the pipeline settles, prints a
summary and stops everything it started.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import SecretStr

import agents as agent_registry
from agents.repositories import reports
from agents.runtime.topics import ensure_topics
from chimera import stack
from chimera.access import kafka as kafka_access
from chimera.ops.inject import send
from chimera.stack.kafka import LocalKafka
from chimera.stack.postgres import LocalPostgres
from chimera.supervisor import AgentProcesses
from core import db
from core.credentials import ADMIN, OPERATOR, as_principal, process_env
from core.settings import Settings
from events import FetchTrends
from events.catalog import FetchTrendsPayload

FINAL_WORKFLOW_STATES = ("rejected", "declined", "completed", "partial", "abandoned")


@dataclass
class DemoResult:
    settled: bool
    seconds: float
    summary: dict[str, Any]


async def _recreate_database(settings: Settings, name: str) -> str:
    admin = settings.dsn().rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return settings.dsn().rsplit("/", 1)[0] + f"/{name}"


async def _snapshot(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            **await reports.totals(conn),
            "fetch_done": await reports.processed(conn, "research.commands"),
        }
    finally:
        await conn.close()


def _settled(snap: dict[str, Any], previous: dict[str, Any] | None) -> bool:
    workflows = snap["workflows"]
    open_workflows = sum(n for s, n in workflows.items() if s not in FINAL_WORKFLOW_STATES)
    return (
        snap["fetch_done"] >= 1
        and sum(workflows.values()) >= snap["trends"] > 0
        and open_workflows == 0
        and snap["outbox_unsent"] == 0
        and previous is not None
        and previous["audit_rows"] == snap["audit_rows"]
    )


def run_demo(
    settings: Settings, timeout: float, echo: Any = print, database: str = "chimera_demo"
) -> DemoResult:
    began = time.monotonic()
    key = stack.ensure_master_key(settings)
    started_here = [name for name, started in stack.up(settings) if started]
    for name in ("postgresql", "kafka"):
        if settings.uses_local_postgres if name == "postgresql" else settings.uses_local_kafka:
            echo(f"{name}: {'started' if name in started_here else 'already up'}")
    if key is not None:
        echo(key.describe())
    run_id = time.strftime("%Y%m%d%H%M%S")
    dsn = asyncio.run(_recreate_database(settings, database))
    db.upgrade(dsn)
    echo(f"database {database} migrated to {db.head_revision()}")
    media = settings.state_dir / "demo" / "media"
    publish_dir = settings.state_dir / "demo" / "publish"
    logs = settings.state_dir / "demo" / "logs" / run_id
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "DATABASE_URL": dsn,
        "CHIMERA_TOPIC_PREFIX": f"demo-{run_id}",
        "CHIMERA_MEDIA_DIR": str(media),
        "CHIMERA_PUBLISH_DIR": str(publish_dir),
        "CHIMERA_RESEARCH_INTERVAL_SECONDS": "0",
        "CHIMERA_PUBLISH_ENGAGEMENT_SECONDS": "3",
        "CHIMERA_PUBLISH_POLL_SECONDS": "0.5",
        "CHIMERA_PUBLISH_PRIVACY": "public",
        # Half resolution (540x960) keeps the demo to a few minutes on two cores.
        "CHIMERA_GENERATE_RESOLUTION_SCALE": "0.5",
        "CHIMERA_GENERATE_TARGET_DURATION_S": "20",
    }
    demo_settings = settings.model_copy(
        update={
            "kafka_bootstrap_servers": settings.bootstrap_servers,
            "kafka_security_protocol": settings.security_protocol,
            "credentials_file": settings.credentials_path,
            # The stack's key file (made by `ensure_master_key` above): with the URLs given,
            # these settings no longer look local and would not find it themselves.
            "secret_key_file": settings.secret_key_file
            or (settings.secret_key_path if settings.secret_key is None else None),
            "topic_prefix": env["CHIMERA_TOPIC_PREFIX"],
            "database_url": SecretStr(dsn),
        }
    )
    # Each agent process gets its own Kafka user and PostgreSQL role, and nothing else.
    agent_env = {}
    for name in agent_registry.AGENTS:
        own = process_env(as_principal(demo_settings, name))
        own.pop("CHIMERA_CREDENTIALS_FILE", None)
        agent_env[name] = own
    if demo_settings.security_protocol.startswith("SASL"):
        acls = kafka_access.matrix(demo_settings)
        kafka_access.apply(as_principal(demo_settings, ADMIN), acls)
        echo(f"kafka: {len(acls)} ACLs for the prefix {demo_settings.topic_prefix} (one user each)")
    agents = AgentProcesses(env=env, log_dir=logs, agent_env=agent_env)
    agents.start()
    echo(f"agents started as processes: {', '.join(agents.procs)} (logs in {logs})")
    demo_settings = as_principal(demo_settings, OPERATOR)
    snap: dict[str, Any] = {}
    codes: dict[str, int | None] = {}
    settled = False
    try:
        asyncio.run(ensure_topics(demo_settings))  # before the first send, not on demand
        command = FetchTrends.create(
            FetchTrendsPayload(platforms=["feed"]), producer="demo", correlation_id=uuid.uuid4()
        )
        asyncio.run(send(demo_settings, [command]))
        echo("injected FetchTrends: the research agent reads the bundled sample feed")
        previous = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(2.0)
            if agents.dead():
                echo(f"an agent exited early: {agents.dead()} (see {logs})")
                break
            snap = asyncio.run(_snapshot(dsn))
            if _settled(snap, previous):
                settled = True
                break
            previous = snap
        time.sleep(4.0)  # one engagement round for the published items
        snap = asyncio.run(_snapshot(dsn))
    finally:
        codes = agents.stop()
        echo(f"agents stopped: {codes}")
        # Stop what the demo started (and only that); the data stays for `chimera stack up`.
        if "kafka" in started_here:
            LocalKafka(settings).down()
        if "postgresql" in started_here:
            LocalPostgres(settings).down()
        if started_here:
            echo(
                f"stopped {', '.join(started_here)} (started by the demo; "
                "`chimera stack up` brings them back with the demo's data)"
            )
    elapsed = time.monotonic() - began
    summary = {
        **snap,
        "exit_codes": codes,
        "publish_page": str(publish_dir / "index.html"),
        "database": dsn.rsplit("@", 1)[-1],
        "topic_prefix": env["CHIMERA_TOPIC_PREFIX"],
        "logs": str(logs),
    }
    return DemoResult(settled, elapsed, summary)


def format_summary(result: DemoResult) -> str:
    s = result.summary
    renders = s.get("render_seconds") or []
    lines = [
        f"pipeline {'settled' if result.settled else 'DID NOT SETTLE (timeout)'} "
        f"in {result.seconds:.1f}s",
        f"  trends stored:        {s.get('trends', 0)}",
        f"  workflows:            {s.get('workflows', {})}",
        f"  content:              {s.get('content', {})}",
        "  generation time:      "
        + (
            f"median {sorted(renders)[len(renders) // 2]:.1f}s, "
            f"max {max(renders):.1f}s over {len(renders)} video(s)"
            if renders
            else "no video finished"
        ),
        f"  publications:         {s.get('publications', {})}",
        f"  engagement rows:      {s.get('engagement_rows', 0)}",
        f"  audit rows written:   {s.get('audit_rows', 0)}",
        f"  videos:               {', '.join(s.get('videos', [])) or '-'}",
        f"  published page:       {s['publish_page']}",
        f"  database:             {s['database']}   topic prefix: {s.get('topic_prefix', '-')}"
        f"   agent logs: {s['logs']}",
    ]
    return "\n".join(lines)


def page_exists(result: DemoResult) -> bool:
    return Path(result.summary["publish_page"]).exists()
