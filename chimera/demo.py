"""`chimera demo`: the whole pipeline on the embedded default, start to finish.

Local stack, a fresh demo database, every agent and the audit sink as separate processes,
the bundled offline trend feed (read by the research agent on an injected `FetchTrends`
command), real rendering, the local publisher, and the content archive: a fresh Git
repository in the demo's state folder that the publish agent commits every published item to
through the Git MCP server. Waits until the pipeline settles, then replays the publish agent's
topics from the start (the archive must gain no commit), prints a summary and stops
everything it started.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import SecretStr
from rich.console import Console

from agents.repositories import reports
from agents.runtime.topics import ensure_topics
from chimera import stack
from chimera.access import kafka as kafka_access
from chimera.demo_media import ensure_demo_media
from chimera.ops import offsets
from chimera.ops.inject import send
from chimera.ops.replay import agent_topics
from chimera.progress import LogProgress, RichProgress
from chimera.stack.kafka import LocalKafka
from chimera.stack.postgres import LocalPostgres
from chimera.supervisor import AgentProcesses, agent_environments
from core import db
from core.credentials import ADMIN, OPERATOR, as_principal
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
            "made": await reports.videos_made(conn),
            "fetch_done": await reports.processed(conn, "research.commands"),
            "archived": await reports.processed(conn, "publish.archive"),
        }
    finally:
        await conn.close()


def archive_commits(repo: Path) -> int:
    """How many commits the archive repository holds (0 when it has none yet)."""
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", "HEAD"], capture_output=True, text=True
    )
    return int(out.stdout.strip()) if out.returncode == 0 else 0


async def _caught_up(settings: Settings, group: str, topics: list[str]) -> bool:
    partitions = await offsets.list_partitions(settings, topics)
    _, end = await offsets.watermarks(settings, partitions)
    committed = await offsets.committed_offsets(settings, group, partitions)
    return all((committed[tp] or 0) >= end[tp] for tp in partitions)


def _replay_publish(
    settings: Settings,
    env: dict[str, str],
    agent_env: dict[str, dict[str, str]],
    logs: Path,
    timeout: float = 180.0,
) -> int | None:
    """Move the publish agent's group back to the start of its topics and run it again until
    it has caught up; the number of records it read again (None: it did not catch up)."""
    group = f"{settings.topic_prefix}.publish"
    topics = agent_topics(settings, "publish")
    moved = asyncio.run(offsets.reset_to_earliest(settings, group, topics))
    again = AgentProcesses(env=env, log_dir=logs / "replay", agent_env=agent_env)
    again.start(["publish"])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not again.dead():
            time.sleep(2.0)
            if asyncio.run(_caught_up(settings, group, topics)):
                return sum(moved.values())
        return None
    finally:
        again.stop()


def _settled(snap: dict[str, Any], previous: dict[str, Any] | None) -> bool:
    workflows = snap["workflows"]
    open_workflows = sum(n for s, n in workflows.items() if s not in FINAL_WORKFLOW_STATES)
    return (
        snap["fetch_done"] >= 1
        and sum(workflows.values()) >= snap["trends"] > 0
        and open_workflows == 0
        and snap["outbox_unsent"] == 0
        # every Published event archived (one per published publication)
        and snap["archived"] >= sum(snap["publications"].values())
        and previous is not None
        and previous["audit_rows"] == snap["audit_rows"]
    )


def run_demo(
    settings: Settings,
    timeout: float,
    echo: Any = print,
    database: str = "chimera_demo",
    console: Console | None = None,
) -> DemoResult:
    """Run the pipeline on the bundled feed; `console`: show per-stage progress bars on it."""
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
    archive = settings.state_dir / "demo" / "archive"
    shutil.rmtree(archive, ignore_errors=True)  # like the database: fresh each run
    media = settings.state_dir / "demo" / "media"
    publish_dir = settings.state_dir / "demo" / "publish"
    logs = settings.state_dir / "demo" / "logs" / run_id
    # Generated abstract clips, stills and an ambient bed (once; kept between runs).
    library, music = ensure_demo_media(settings.state_dir / "demo-media", echo=echo)
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
        "CHIMERA_ARCHIVE_REPO": str(archive),
        "CHIMERA_FOOTAGE_LIBRARY": str(library),
        "CHIMERA_MUSIC_DIR": str(music),
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
    agent_env = agent_environments(demo_settings)
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
    bars = RichProgress(console=console) if console is not None else None
    watch = LogProgress(logs / "generate.log", bars) if bars is not None else None
    try:
        try:
            if bars is not None:
                bars.__enter__()
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
                if watch is not None:
                    watch.poll()
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
            if bars is not None:
                bars.__exit__(None, None, None)
        codes = agents.stop()
        echo(f"agents stopped: {codes}")
        commits = archive_commits(archive)
        echo(f"archive: {commits} commit(s) in {archive}")
        if settled:
            replayed = _replay_publish(demo_settings, env, agent_env, logs)
            commits_after = archive_commits(archive)
            echo(
                f"replayed the publish agent's topics ({replayed} record(s) read again): "
                f"the archive has {commits_after} commit(s)"
            )
            snap = {
                **snap,
                "replayed_records": replayed,
                "archive_commits_after_replay": commits_after,
            }
        snap = {**snap, "archive_commits": commits}
    finally:
        if not codes:
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
        "archive": str(archive),
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
        *_video_lines(s.get("made", [])),
        f"  published page:       {s['publish_page']}",
        f"  content archive:      {s['archive']} ({s.get('archive_commits', 0)} commit(s); "
        f"{s.get('archive_commits_after_replay', '-')} after a replay)   git -C {s['archive']} log",
        f"  database:             {s['database']}   topic prefix: {s.get('topic_prefix', '-')}"
        f"   agent logs: {s['logs']}",
    ]
    return "\n".join(lines)


def _video_lines(made: list[dict[str, Any]]) -> list[str]:
    lines = []
    for v in made:
        voice = v.get("voice") or "-"
        if v.get("fallback_from"):
            voice += f" (after {v['fallback_from']} failed)"
        loud = (
            f"{v['lufs']:.1f} LUFS, true peak {v['true_peak']:.1f} dBTP"
            if v.get("lufs") is not None
            else "not measured"
        )
        lines.append(
            f"    {Path(str(v['local_path'])).name}: voice {voice}, {v.get('cuts')} cuts over "
            f"{v.get('visuals')} beats, captions {v.get('caption_style')}/"
            f"{v.get('caption_timing')}, music {v.get('music') or '-'}, {loud}, "
            f"{(v.get('duration') or 0):.1f} s"
        )
    return lines


def page_exists(result: DemoResult) -> bool:
    return Path(result.summary["publish_page"]).exists()
