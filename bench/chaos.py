"""Chaos runs on the real broker and database, checked to the record.

    python -m bench.chaos [--trends 200] [--kills 8] [--load 2000] [--seed N]

Scenarios (tests/chaos runs each small in the suite; this runs them big):
- kills: every agent as a real process (research, orchestrator, generate, publish, audit),
  SIGKILLed at random moments while it works (generate while a render's temporary file is
  open, publish while a publication is `publishing`, the others while their group has
  uncommitted input), restarted, until the run settles; then every group replayed from the
  start with Kafka's own `kafka-consumer-groups --reset-offsets --to-earliest --execute`.
- broker: the agents' Kafka broker (a local one started for the run, never a shared one)
  stopped and started again under load; readiness must say so while it is down.
- postgres: the same with the PostgreSQL server.
- poison: records Chimera did not write, from Kafka's console producer and from raw
  aiokafka with hand-built headers, amid valid ones; then a replay.
Each scenario checks its invariants (each input exactly one outcome, nothing published twice,
no audit row lost or doubled, dead letters byte for byte and once per refusing group, a replay
changes no table and no file) and raises `AssertionError` naming the broken one. The command
prints one JSON line with every scenario's counts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import signal
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agents.runtime.topics import ensure_topics
from chimera.ops import offsets
from chimera.stack.tools import KafkaTools
from chimera.supervisor import AgentProcesses, agent_environments
from core.kafka import admin_options, client_options
from core.settings import Settings
from events import Topics, Trend, TrendDiscovered, decode, encode
from skills.files import TEMP_MARK

AGENTS = ("audit", "research", "orchestrator", "generate", "publish")
FINAL_STATES = ("rejected", "declined", "completed", "partial", "abandoned")
#: Tables whose rows a replay must leave as they are (every table of the schema but one).
VOLATILE_TABLES = {"alembic_version"}


#: Below Linux's ephemeral range (32768-60999): a port the kernel hands out for outgoing
#: connections (every Kafka and PostgreSQL client here makes them) can be taken between the
#: choice and the agent's bind; one in this range only by another listener.
SERVER_PORTS = range(21000, 32000)


def free_port() -> int:
    """A loopback port nothing listens on now, outside the ephemeral range."""
    for _ in range(200):
        port = random.randrange(SERVER_PORTS.start, SERVER_PORTS.stop)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {SERVER_PORTS}")


def make_trends(n: int, tag: str) -> list[TrendDiscovered]:
    return [
        TrendDiscovered.create(
            Trend.model_validate(
                {
                    "id": f"chaos:{tag}:{i}",
                    "platform": "feed",
                    "topic": f"{tag} topic {i}",
                    "title": f"Chaos trend {i}",
                    "description": "A thing people talk about, for a chaos run.",
                    "engagement_metrics": {
                        "views": 100 + i,
                        "likes": 1,
                        "comments": 1,
                        "shares": 1,
                        "engagement_rate": 0.01,
                    },
                    "velocity": float(10 + i),
                    "timestamp": "2026-12-01T00:00:00+00:00",
                    "url": f"https://example.org/chaos/{i}",
                    "tags": ["chaos"],
                },
                strict=False,
            ),
            producer="chaos",
        )
        for i in range(n)
    ]


# --- the world of one run ----------------------------------------------------------------------
@dataclass
class World:
    """One run's broker, database, topic prefix and folders, and its agents' processes."""

    settings: Settings  # bootstrap, dsn (a migrated database), topic prefix
    root: Path
    agents: AgentProcesses = field(init=False)
    kills: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    ports: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, list[str]] = field(default_factory=dict)  # see `input_topics`

    def __post_init__(self) -> None:
        # Each agent as its own principal, with exactly its rights (chimera.supervisor).
        self.agents = AgentProcesses(
            env=self.env(),
            log_dir=self.root / "logs",
            agent_env=agent_environments(self.settings),
        )

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_prefix)

    @property
    def publish_dir(self) -> Path:
        return self.root / "publish"

    @property
    def renders_dir(self) -> Path:
        return self.root / "media" / "renders"

    def group(self, agent: str) -> str:
        return f"{self.settings.topic_prefix}.{agent}"

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "DATABASE_URL": self.settings.dsn(),
            "CHIMERA_TOPIC_PREFIX": self.settings.topic_prefix,
            "CHIMERA_STATE_DIR": str(self.root / "state"),
            "CHIMERA_MEDIA_DIR": str(self.root / "media"),
            "CHIMERA_PUBLISH_DIR": str(self.publish_dir),
            "CHIMERA_RESEARCH_INTERVAL_SECONDS": "0",
            "CHIMERA_PUBLISH_ENGAGEMENT_SECONDS": "0",  # a replay must change no table
            "CHIMERA_PUBLISH_POLL_SECONDS": "0.2",
            "CHIMERA_PUBLISH_PRIVACY": "public",
            "CHIMERA_GENERATE_RESOLUTION_SCALE": "0.15",
            "CHIMERA_GENERATE_TARGET_DURATION_S": "10",
            "CHIMERA_GENERATE_NARRATE": "false",
            # A silent video fails the quality gate (loudness): these runs are about kills.
            "CHIMERA_GENERATE_QUALITY_GATE": "false",
            "CHIMERA_GENERATE_PRESET": "ultrafast",
            "CHIMERA_POLICY_DAILY_BUDGET": '{"local": 1000000}',
            "CHIMERA_POLICY_TOPIC_COOLDOWN_HOURS": "0",
            "CHIMERA_POLICY_PLATFORMS": '["local"]',
            "CHIMERA_SHUTDOWN_TIMEOUT_S": "10",
            "CHIMERA_READY_DB_TIMEOUT_S": "1",
            "CHIMERA_LOG_FORMAT": "json",
        }

    def start(self, names: Iterable[str]) -> None:
        for name in names:
            port = self.ports.setdefault(name, free_port())
            self.agents.env_of[name] = {"CHIMERA_HTTP_PORT": str(port)}
            self.agents.spawn(name)

    def kill(self, name: str) -> None:
        self.agents.kill(name)
        self.kills[name] += 1

    def restart(self, name: str) -> None:
        self.agents.restart(name)
        self.restarts[name] += 1

    def stop(self) -> dict[str, int | None]:
        codes = self.agents.stop(timeout=30)
        self.agents.procs.clear()
        return codes

    def unexpected_exits(self) -> dict[str, int]:
        """Agents that exited by themselves (not killed here, not stopped)."""
        return {n: c for n, c in self.agents.dead().items() if c not in (-signal.SIGKILL,)}

    def live(self, name: str) -> bool:
        """Whether the agent's /health/live answers (its process is up and serving)."""
        url = f"http://127.0.0.1:{self.ports[name]}/health/live"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, ValueError):
            return False

    def ready(self, name: str) -> tuple[int, dict[str, Any]]:
        """GET /health/ready of one agent: (status, body); (0, {}) when it does not answer."""
        url = f"http://127.0.0.1:{self.ports[name]}/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (OSError, ValueError):
            return 0, {}


# --- watching Kafka and the database ------------------------------------------------------------
class Probe:
    """Read-only looks at the run: consumer lag per group, counts, temporary files."""

    def __init__(self, world: World, pool: asyncpg.Pool) -> None:
        self.world = world
        self.pool = pool
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def close(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        with suppress(Exception):
            if admin is not None:
                await admin.close()
        with suppress(Exception):
            if consumer is not None:
                await consumer.stop()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            options = client_options(self.world.settings)
            self._admin = AIOKafkaAdminClient(
                **admin_options(self.world.settings), request_timeout_ms=5000
            )
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
            await self._consumer.start()
        return self._admin, self._consumer

    async def lag(self, agent: str, topics: Sequence[str]) -> int | None:
        """Records on `topics` the agent's group has not committed (None: cannot tell now)."""
        try:
            admin, consumer = await self._clients()
            described = await asyncio.wait_for(admin.describe_topics(list(topics)), 5)
            tps = [
                TopicPartition(topic["topic"], p["partition"])
                for topic in described
                for p in topic["partitions"]
            ]
            if len({tp.topic for tp in tps}) != len(set(topics)):
                return None  # not created yet
            if not set(tps) <= consumer.assignment():
                # Assigned and paused: never fetches, but knows the partitions' leaders.
                consumer.assign(sorted(set(tps) | consumer.assignment()))
                consumer.pause(*consumer.assignment())
            end = await asyncio.wait_for(consumer.end_offsets(tps), 5)
            committed = await asyncio.wait_for(
                admin.list_consumer_group_offsets(self.world.group(agent), partitions=tps), 5
            )
        except Exception:
            await self.close()
            return None
        return sum(
            end[tp] - (committed[tp].offset if tp in committed and committed[tp].offset > 0 else 0)
            for tp in tps
        )

    async def count(self, sql: str, *args: Any) -> int | None:
        try:
            return int(await self.pool.fetchval(sql, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return None

    def temporaries(self) -> list[Path]:
        """Temporary files under the run's publish and media folders (debris if settled)."""
        found = []
        for folder in (self.world.publish_dir, self.world.root / "media"):
            if folder.exists():
                found += [p for p in folder.rglob(f"*{TEMP_MARK}*") if p.name.startswith(".")]
        return found


def input_topics(world: World) -> dict[str, list[str]]:
    """The topics each agent consumes, from the agents' own declarations."""
    if not world.inputs:
        import agents

        for name in AGENTS:
            runtime = agents.build(name, world.settings)
            world.inputs[name] = [s.topic for s in runtime.subscriptions]
    return world.inputs


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, world: World | None = None
) -> float:
    """Poll `check` until it holds; returns the seconds it took. AssertionError on timeout or
    when an agent exits by itself meanwhile."""
    began = time.monotonic()
    while not await check():
        if world is not None and world.unexpected_exits():
            raise AssertionError(
                f"agents exited while waiting for {what}: {world.unexpected_exits()}"
            )
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.25)
    return time.monotonic() - began


async def produce_resilient(
    world: World,
    topic: str,
    events: Sequence[TrendDiscovered],
    rate: float,
    progress: list[int] | None = None,
) -> int:
    """Send `events` at `rate`/s, each until the broker acknowledges it (through outages: a
    resend after an unknown outcome carries the same event id). Returns the resends."""
    resends = 0
    producer: AIOKafkaProducer | None = None
    began = time.monotonic()
    try:
        for i, event in enumerate(events):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            while True:
                try:
                    if producer is None:
                        producer = AIOKafkaProducer(
                            **client_options(world.settings),
                            acks="all",
                            enable_idempotence=True,
                            request_timeout_ms=5000,
                        )
                        await asyncio.wait_for(producer.start(), 10)
                    await asyncio.wait_for(
                        producer.send_and_wait(topic, encode(event), key=event.payload.id.encode()),
                        10,
                    )
                    if progress is not None:
                        progress[0] = i + 1
                    break
                except Exception:
                    resends += 1
                    if producer is not None:
                        with suppress(Exception):
                            await asyncio.wait_for(producer.stop(), 5)
                    producer = None
                    await asyncio.sleep(0.5)
    finally:
        if producer is not None:
            with suppress(Exception):
                await producer.stop()
    return resends


async def read_all(world: World, topic: str) -> list[Any]:
    """Every record on `topic` up to its end now."""
    settings = world.settings
    partitions = await offsets.list_partitions(settings, [topic])
    beginning, end = await offsets.watermarks(settings, partitions)
    async with offsets.plain_consumer(settings) as consumer:
        ranges = {tp: (beginning[tp], end[tp]) for tp in partitions}
        return [record async for record in offsets.read_range(consumer, ranges)]


# --- invariants ---------------------------------------------------------------------------------
async def distinct_events(world: World, topic: str) -> tuple[int, int]:
    """(distinct event ids, copies that differ from the first of their id) on `topic`."""
    first: dict[Any, bytes] = {}
    differing = 0
    for record in await read_all(world, topic):
        event = decode(record.value)
        if first.setdefault(event.event_id, record.value) != record.value:
            differing += 1
    return len(first), differing


async def check_audit(world: World, pool: asyncpg.Pool) -> dict[str, int]:
    """Every audit event an agent committed is one row: none lost, none doubled."""
    emitted = {
        json.loads(r["value"])["payload"]["id"]
        for r in await pool.fetch("SELECT value FROM outbox WHERE event_type = 'AuditRecorded'")
    }
    stored = [r["id"] for r in await pool.fetch("SELECT id FROM audit_logs")]
    lost = len(emitted - set(stored))
    doubled = len(stored) - len(set(stored))
    assert lost == 0, f"{lost} audit event(s) emitted but not stored"
    assert doubled == 0, f"{doubled} audit row(s) stored twice"
    return {"audit_events": len(emitted), "audit_rows": len(stored), "lost": lost, "doubled": 0}


async def check_decisions(
    world: World, pool: asyncpg.Pool, inputs: Sequence[TrendDiscovered], final: bool
) -> dict[str, Any]:
    """Each input trend exactly one workflow (a final one when `final`), one request each."""
    rows = await pool.fetch("SELECT trend_id, state FROM workflows")
    per_trend = Counter(r["trend_id"] for r in rows)
    wanted = {e.payload.id for e in inputs}
    missing = wanted - set(per_trend)
    doubled = {t: n for t, n in per_trend.items() if n > 1}
    assert not missing, f"{len(missing)} input(s) without an outcome, e.g. {sorted(missing)[:3]}"
    assert not doubled, f"input(s) with several workflows: {doubled}"
    states = Counter(r["state"] for r in rows if r["trend_id"] in wanted)
    if final:
        open_ = {s: n for s, n in states.items() if s not in FINAL_STATES}
        assert not open_, f"workflows not finished: {open_}"
    accepted = sum(n for s, n in states.items() if s != "rejected")
    requested, differing = await distinct_events(world, world.topics.content_requests)
    assert differing == 0, f"{differing} ContentRequested copies differ from the first"
    assert requested == accepted, f"{requested} ContentRequested for {accepted} accepted trends"
    return {"outcomes": dict(states), "content_requested": requested}


async def check_publications(world: World, pool: asyncpg.Pool, accepted: int) -> dict[str, Any]:
    """One published item per accepted trend: in the table, in the page's index, as a file;
    no temporary file left anywhere."""
    rows = await pool.fetch("SELECT id, content_id, status FROM publications")
    per_content = Counter(r["content_id"] for r in rows)
    assert all(n == 1 for n in per_content.values()), "a content item published twice"
    statuses = Counter(r["status"] for r in rows)
    assert statuses == Counter({"published": accepted}), f"publications: {dict(statuses)}"
    index = json.loads((world.publish_dir / "index.json").read_text())
    ids = [item["publication_id"] for item in index["items"]]
    assert len(ids) == len(set(ids)) == accepted, f"{len(ids)} index items, {len(set(ids))} ids"
    videos = [p for p in (world.publish_dir / "videos").iterdir() if p.suffix == ".mp4"]
    assert len(videos) == accepted, f"{len(videos)} published files for {accepted} items"
    published, differing = await distinct_events(world, world.topics.publish_events)
    assert differing == 0 and published == accepted, f"{published} Published events"
    debris = [str(p) for p in Probe(world, pool).temporaries()]
    assert not debris, f"temporary files left: {debris}"
    return {"published": accepted, "published_events": published}


async def check_no_dead_letters(pool: asyncpg.Pool) -> None:
    count = await pool.fetchval("SELECT count(*) FROM dead_letters")
    assert count == 0, f"{count} dead letter(s) in a run without poison"


# --- settling -----------------------------------------------------------------------------------
class Settling:
    """Whether a run has nothing left to do, and if not, why (for the timeout's message)."""

    def __init__(self, world: World, probe: Probe, agents: Sequence[str]) -> None:
        self.world, self.probe, self.agents = world, probe, agents
        self.why = "not checked yet"

    async def __call__(self, checks: int = 3) -> bool:
        """No group lags, the outbox is sent, nothing scheduled, in flight or parked, `checks`
        times in a row half a second apart."""
        topics = input_topics(self.world)
        for _ in range(checks):
            for agent in self.agents:
                lag = await self.probe.lag(agent, topics[agent])
                if lag != 0:
                    self.why = f"{agent} lags by {lag}"
                    return False
            busy = (
                await self.probe.pool.fetchrow(
                    """SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent,
                          (SELECT count(*) FROM publications
                           WHERE status IN ('scheduled', 'publishing')) AS publishing,
                          (SELECT count(*) FROM parked_events) AS parked"""
                )
                if await self.probe.count("SELECT 1") == 1
                else None
            )
            if busy is None or any(busy.values()):
                self.why = f"busy: {dict(busy) if busy else 'no database'}"
                return False
            await asyncio.sleep(0.5)
        return True

    async def wait(self, timeout: float) -> float:
        try:
            return await wait_until(self, timeout, "the run to settle", self.world)
        except AssertionError as exc:
            raise AssertionError(f"{exc} ({self.why})") from None


# --- scenario: kills ----------------------------------------------------------------------------
@dataclass
class KillLog:
    """What one monkey did to one agent."""

    agent: str
    kills: int = 0
    while_working: int = 0  # killed while its sign of work was seen (see `working`)
    moments: list[str] = field(default_factory=list)


async def working(world: World, probe: Probe, agent: str) -> str | None:
    """The agent's sign of work now, or None: a render's temporary file (generate), a
    publication `publishing` (publish), uncommitted input on its topics (the others)."""
    if agent == "generate":
        held = (
            [p for p in world.renders_dir.glob(f".*{TEMP_MARK}*")]
            if world.renders_dir.exists()
            else []
        )
        return "mid-render" if held else None
    if agent == "publish":
        n = await probe.count("SELECT count(*) FROM publications WHERE status = 'publishing'")
        return "mid-publish" if n else None
    lag = await probe.lag(agent, input_topics(world)[agent])
    return "mid-batch (uncommitted input)" if lag else None


# How long a monkey waits for its agent's sign of work before it kills at a random moment.
PATIENCE = {
    "research": 20.0,
    "orchestrator": 20.0,
    "audit": 20.0,
    "generate": 90.0,
    "publish": 90.0,
}


async def monkey(
    world: World,
    probe: Probe,
    agent: str,
    kills: int,
    rng: random.Random,
    done: asyncio.Event,
    patience: float,
) -> KillLog:
    """Kill `agent` `kills` times, each at the first moment it is seen working (or, after
    `patience` seconds of it answering /health/live without a sign, at a random moment), and
    restart it."""
    log = KillLog(agent)
    while log.kills < kills and not done.is_set():
        await asyncio.sleep(rng.uniform(0.2, 2.0))
        while not done.is_set() and not await asyncio.to_thread(world.live, agent):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + patience
        sign = None
        while time.monotonic() < deadline and not done.is_set():
            sign = await working(world, probe, agent)
            if sign is not None:
                break
            await asyncio.sleep(0.02)
        if done.is_set():
            break
        world.kill(agent)
        log.kills += 1
        log.while_working += sign is not None
        log.moments.append(sign or "random moment")
        await asyncio.sleep(rng.uniform(0.1, 1.0))
        world.restart(agent)
    return log


async def kills_scenario(
    world: World,
    pool: asyncpg.Pool,
    *,
    trends: int,
    kills_per_agent: int,
    seed: int,
    rate: float = 4.0,
    poison_rounds: int = 0,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """The pipeline with every agent SIGKILLed while it works, then settled and checked.
    With `poison_rounds`, poison corpora (`send_poison`) arrive amid the trends too, and their
    dead letters are checked: byte for byte, once per refusing group, kills notwithstanding."""
    rng = random.Random(seed)
    await ensure_topics(world.settings)
    probe = Probe(world, pool)
    began = time.monotonic()
    world.start(AGENTS)
    done = asyncio.Event()
    inputs = make_trends(trends, f"k{seed}")
    logs: list[KillLog] = []
    try:
        monkeys = [
            asyncio.create_task(
                monkey(world, probe, agent, kills_per_agent, rng, done, patience=PATIENCE[agent])
            )
            for agent in AGENTS
        ]
        poison = [asyncio.create_task(send_poison(world, f"r{n}")) for n in range(poison_rounds)]
        await produce_resilient(world, world.topics.trends, inputs, rate)
        corpus = merge([await task for task in poison])
        inputs += corpus.valid

        async def all_decided() -> bool:
            n = await probe.count(
                "SELECT count(*) FROM workflows WHERE state = ANY($1::text[])", list(FINAL_STATES)
            )
            return n == len(inputs) and all(m.done() for m in monkeys)

        await wait_until(all_decided, timeout, "every trend to reach a final state", world)
        done.set()
        logs = [await m for m in monkeys]
        await Settling(world, probe, AGENTS).wait(120)
        seconds = time.monotonic() - began
        decisions = await check_decisions(world, pool, inputs, final=True)
        accepted = sum(n for s, n in decisions["outcomes"].items() if s != "rejected")
        publications = await check_publications(world, pool, accepted)
        audit = await check_audit(world, pool)
        letters = await check_dead_letters(world, corpus) if poison_rounds else {}
        if not poison_rounds:
            await check_no_dead_letters(pool)
    finally:
        done.set()
        await probe.close()
    return {
        "inputs": len(inputs),
        "kills": dict(world.kills),
        "restarts": dict(world.restarts),
        "killed_while_working": {log.agent: log.while_working for log in logs},
        "moments": {log.agent: log.moments for log in logs},
        **decisions,
        **publications,
        **audit,
        **letters,
        "duplicates": 0,
        "lost": 0,
        "seconds": round(seconds, 1),
    }


# --- scenario: replay ---------------------------------------------------------------------------
async def snapshot(world: World, pool: asyncpg.Pool) -> dict[str, Any]:
    """Every row of every table (as sorted JSON text) and every published file's digest."""
    tables = [
        r["tablename"]
        for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if r["tablename"] not in VOLATILE_TABLES
    ]
    found: dict[str, Any] = {}
    for table in sorted(tables):
        rows = await pool.fetch(f'SELECT * FROM "{table}"')
        found[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    files = {}
    if world.publish_dir.exists():
        for path in sorted(world.publish_dir.rglob("*")):
            if path.is_file() and path.name != ".lock":
                files[str(path.relative_to(world.publish_dir))] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    found["files"] = files
    return found


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            a, b = before.get(key), after.get(key)
            out[key] = (
                {"before": len(a or ()), "after": len(b or ())}
                if isinstance(a, list | dict) or isinstance(b, list | dict)
                else {"before": a, "after": b}
            )
    return out


async def replay_scenario(
    world: World, pool: asyncpg.Pool, agents: Sequence[str], timeout: float = 300.0
) -> dict[str, Any]:
    """Stop the agents, reset every group to the earliest offsets with Kafka's own
    kafka-consumer-groups, start them again, let them read everything again: no table and no
    published file may change."""
    world.stop()
    before = await snapshot(world, pool)
    tools = KafkaTools(Settings())
    table = await asyncio.to_thread(
        tools.reset_to_earliest,
        world.settings,
        [world.group(agent) for agent in agents],
    )
    rows = [line.split() for line in table.splitlines() if line.strip()]
    reset = {row[0] for row in rows if row[0] != "GROUP"}
    assert reset == {world.group(a) for a in agents}, f"kafka-consumer-groups reset {reset}"
    dead_before = await dead_letter_count(world)
    probe = Probe(world, pool)
    try:
        topics = input_topics(world)
        lags = {agent: await probe.lag(agent, topics[agent]) for agent in agents}
        world.start(agents)
        await Settling(world, probe, agents).wait(timeout)
    finally:
        await probe.close()
    world.stop()
    after = await snapshot(world, pool)
    changed = differences(before, after)
    assert not changed, f"the replay changed {changed}"
    dead_after = await dead_letter_count(world)
    assert dead_after == dead_before, (
        f"the replay dead-lettered again: {dead_before} -> {dead_after}"
    )
    return {
        "records_replayed": lags,
        "tables_checked": len(before) - 1,
        "files_checked": len(before["files"]),
        "changed": 0,
    }


async def dead_letter_count(world: World) -> int:
    total = 0
    for topic in world.topics.all(with_dlq=False):
        total += len(await read_all(world, Topics.dlq(topic)))
    return total


# --- scenarios: the broker and the database restarted under load ---------------------------------
LOAD_AGENTS = ("audit", "research", "orchestrator")


async def all_ready(world: World, agents: Sequence[str]) -> bool:
    """Whether every agent's /health/ready says 200."""
    for agent in agents:
        if (await asyncio.to_thread(world.ready, agent))[0] != 200:
            return False
    return True


@dataclass(frozen=True)
class Outage:
    """Stopping and starting one service the agents need; `word` is what readiness names."""

    what: str
    stop: Callable[[], Any]
    start: Callable[[], Any]
    word: str


async def outage_scenario(
    world: World,
    pool: asyncpg.Pool,
    outages: Sequence[Outage],
    *,
    load: int,
    rate: float,
    down_s: float,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """`load` trends at `rate`/s through research, orchestrator and audit as processes; at
    evenly spaced points of the load, each outage in turn: `stop()` for `down_s` seconds
    (readiness polled meanwhile), `start()`, every agent ready again. The agents reconnect by
    themselves; each trend is decided once, nothing lost or doubled."""
    await ensure_topics(world.settings)
    inputs = make_trends(load, f"o{load}")
    world.start(LOAD_AGENTS)
    await wait_until(lambda: all_ready(world, LOAD_AGENTS), 120, "the agents ready", world)
    began = time.monotonic()
    sent: list[int] = [0]
    sender = asyncio.create_task(
        produce_resilient(world, world.topics.trends, inputs, rate, progress=sent)
    )
    observed: dict[str, dict[str, Any]] = {}
    for n, outage in enumerate(outages, start=1):
        while sent[0] < load * n / (len(outages) + 1) and not sender.done():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        down_at = time.monotonic()
        await asyncio.to_thread(outage.stop)
        seen: dict[str, set[int]] = {a: set() for a in LOAD_AGENTS}
        reasons: dict[str, str] = {}
        while time.monotonic() - down_at < down_s:
            for agent in LOAD_AGENTS:
                status, body = await asyncio.to_thread(world.ready, agent)
                seen[agent].add(status)
                if status == 503:
                    reasons.setdefault(agent, str(body.get("reason", "")))
            await asyncio.sleep(0.5)
        await asyncio.to_thread(outage.start)
        back = await wait_until(
            lambda: all_ready(world, LOAD_AGENTS), 120, f"ready after the {outage.what} outage"
        )
        for agent in LOAD_AGENTS:
            assert 503 in seen[agent], f"{agent} never said the {outage.what} was down: {seen}"
            assert outage.word in reasons[agent], f"{agent} said {reasons[agent]!r}"
        observed[outage.what] = {
            "down_s": round(time.monotonic() - down_at - back, 1),
            "ready_again_after_s": round(back, 1),
            "not_ready_said": reasons,
        }
    resends = await sender
    probe = Probe(world, pool)
    try:

        async def decided() -> bool:
            return await probe.count("SELECT count(*) FROM workflows") == load

        await wait_until(decided, timeout, "every trend decided after the outages", world)
        await Settling(world, probe, LOAD_AGENTS).wait(120)
        seconds = time.monotonic() - began
        decisions = await check_decisions(world, pool, inputs, final=False)
        audit = await check_audit(world, pool)
        await check_no_dead_letters(pool)
        stored = await probe.count("SELECT count(*) FROM inbox WHERE consumer = 'research.trends'")
        assert stored == load, f"research stored {stored} of {load} trends"
    finally:
        await probe.close()
    assert not world.unexpected_exits(), world.unexpected_exits()
    return {
        "inputs": load,
        "outages": observed,
        "producer_resends": resends,
        "agent_restarts": 0,
        **decisions,
        **audit,
        "duplicates": 0,
        "lost": 0,
        "seconds": round(seconds, 1),
    }


# --- scenario: poison from clients that are not Chimera -----------------------------------------
BINARY = b"\xff\xfe\x00\x80"


@dataclass
class Corpus:
    """What was sent: valid trends (to be processed) and how many poison records per topic."""

    valid: list[TrendDiscovered]
    poison_topics: dict[str, int]


async def send_poison(world: World, tag: str) -> Corpus:
    """A poison corpus amid valid trends: from Kafka's console producer what a text line can
    say, from raw aiokafka what only bytes can (see the module docstring)."""
    from core.records import partition_for, send_exact
    from events import ContentReady
    from events.catalog import ContentReadyPayload

    t = world.topics
    valid = make_trends(6, f"p{tag}")
    unsupported = json.loads(encode(make_trends(1, f"v{tag}")[0]))
    unsupported["schema_version"] = 99
    other_topic = ContentReady.create(
        ContentReadyPayload(
            content_id="c-1",
            trend_id="t-1",
            path="/nowhere.mp4",
            duration=1.0,
            width=2,
            height=2,
            sha256="0" * 64,
            title="a video",
        ),
        producer="someone",
    )

    def line(headers: str, key: str, value: str) -> str:
        return f"{headers}\t{key}\t{value}"

    src = "src:console"
    trends_lines = [
        line(src, valid[0].payload.id, encode(valid[0]).decode()),
        line(src, f"{tag}-not-json", "this is not JSON"),
        line(src, f"{tag}-shape", "[1, 2, 3]"),
        line(src, f"{tag}-unknown", '{"event_type": "NoSuchEvent", "payload": {}}'),
        line(src, f"{tag}-version", json.dumps(unsupported)),
        line(src, f"{tag}-empty", ""),
        line(src, f"{tag}-null", "NULL"),
        line(f"{src},nothing:NULL", f"{tag}-null-header", "not JSON, with a null header"),
        line(f"{src},nothing:NULL", valid[1].payload.id, encode(valid[1]).decode()),
        line(src, f"{tag}-other-topic", encode(other_topic).decode()),
        line(src, "NULL", "NULL"),
        line(src, valid[2].payload.id, encode(valid[2]).decode()),
    ]
    audit_lines = [
        line(src, f"{tag}-audit-not-json", "{not json"),
        line(src, f"{tag}-audit-trend", encode(valid[3]).decode()),  # not an audit event
    ]
    tools = KafkaTools(Settings())
    props = {"parse.key": "true", "parse.headers": "true", "null.marker": "NULL"}
    await asyncio.to_thread(tools.console_produce, world.settings, t.trends, trends_lines, props)
    await asyncio.to_thread(tools.console_produce, world.settings, t.audit, audit_lines, props)
    producer = AIOKafkaProducer(**client_options(world.settings), acks="all")
    await producer.start()
    try:
        raw: list[tuple[bytes, bytes, list[tuple[str, bytes | None]]]] = [
            (f"{tag}-utf8".encode(), b"\xff\xfe\xfd not UTF-8", [("src", b"aiokafka")]),
            (f"{tag}-binary".encode(), b"{not json", [("src", b"aiokafka"), ("bin", BINARY)]),
            (valid[4].payload.id.encode(), encode(valid[4]), [("bin", BINARY), ("n", None)]),
        ]
        for key, value, headers in raw:
            await producer.send_and_wait(t.trends, value, key=key, headers=headers)
        part = await partition_for(producer, t.trends, 0)
        exact: list[tuple[bytes, bytes, list[tuple[str, bytes | None]]]] = [
            (valid[5].payload.id.encode(), encode(valid[5]), [("\udcff\udcfe", BINARY)]),
            (f"{tag}-name".encode(), b"{", [("\udcffname", None)]),
        ]
        for key, value, headers in exact:
            await (
                await send_exact(
                    producer, t.trends, key=key, value=value, headers=headers, partition=part
                )
            )
    finally:
        await producer.stop()
    poison_on_trends = len(trends_lines) - 3 + 2 + 1
    return Corpus(valid[:3] + valid[4:], {t.trends: poison_on_trends, t.audit: len(audit_lines)})


async def check_dead_letters(world: World, corpus: Corpus) -> dict[str, Any]:
    """Each poison record in its topic's dead-letter topic byte for byte (key, value, headers
    first, then Chimera's), once per group that reads the topic; nothing else there."""
    from core.records import header_name_bytes

    refusers = {
        world.topics.trends: {world.group("research"), world.group("orchestrator")},
        world.topics.audit: {world.group("audit")},
    }
    letters = 0
    for topic, expected in corpus.poison_topics.items():
        originals = {(r.partition, r.offset): r for r in await read_all(world, topic)}
        dead = await read_all(world, Topics.dlq(topic))
        seen: Counter[tuple[int, int, str]] = Counter()
        for letter in dead:
            why = {
                k: v.decode()
                for k, v in letter.headers
                if k.startswith("chimera.dlq.") and v is not None
            }
            where = (
                int(why["chimera.dlq.original.partition"]),
                int(why["chimera.dlq.original.offset"]),
            )
            original = originals[where]
            seen[(*where, why["chimera.dlq.consumer.group"])] += 1
            assert (letter.key, letter.value) == (original.key, original.value), "not byte for byte"
            kept = [(header_name_bytes(k), v) for k, v in letter.headers[: len(original.headers)]]
            assert kept == [(header_name_bytes(k), v) for k, v in original.headers], (
                f"headers changed: {original.headers} -> {letter.headers}"
            )
            assert why["chimera.dlq.original.timestamp"] == str(original.timestamp)
        doubled = {k: n for k, n in seen.items() if n > 1}
        assert not doubled, f"dead-lettered twice: {doubled}"
        records = {(p, o) for p, o, _ in seen}
        assert len(records) == expected, f"{len(records)} of {expected} poison records on {topic}"
        for p, o in records:
            groups = {g for pp, oo, g in seen if (pp, oo) == (p, o)}
            assert groups == refusers[topic], f"{topic}/{p}/{o} refused by {groups}"
        letters += len(dead)
    return {
        "poison_records": sum(corpus.poison_topics.values()),
        "dead_letters": letters,
        "valid_around_them": len(corpus.valid),
    }


def merge(corpora: Sequence[Corpus]) -> Corpus:
    """Several corpora as one (their valid trends, their poison counts per topic)."""
    merged = Corpus([e for c in corpora for e in c.valid], {})
    for corpus in corpora:
        for topic, n in corpus.poison_topics.items():
            merged.poison_topics[topic] = merged.poison_topics.get(topic, 0) + n
    return merged


@asynccontextmanager
async def migrated_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=4)
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()


# --- worlds: a database of its own, and a broker or a server of its own --------------------------
async def create_database(admin_dsn: str, name: str) -> str:
    """A new database `name` on the server of `admin_dsn`, migrated; its DSN."""
    from core import db

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    await asyncio.to_thread(db.upgrade, dsn)
    return dsn


def own_kafka(root: Path) -> Any:
    """A broker of the run's own (never a shared one): free ports, a state folder under
    `root`, the project's cached jars (fetched once when missing)."""
    from chimera.stack.kafka import LocalKafka

    project = LocalKafka(Settings())
    project.ensure_classpath()
    settings = Settings(
        state_dir=root / "kafka-state",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_heap="512m",
    )
    # PLAINTEXT: the run is about restarts; security is the shared broker's and its tests'.
    broker = LocalKafka(settings, secure=False)
    broker.home.mkdir(parents=True, exist_ok=True)
    if not broker.lib.exists():
        broker.lib.symlink_to(project.lib, target_is_directory=True)
    return broker


def own_postgres(root: Path) -> Any:
    """A PostgreSQL server of the run's own: a free port, a data folder under `root`."""
    from chimera.stack.postgres import LocalPostgres

    return LocalPostgres(
        Settings(
            state_dir=root / "pg-state",
            pg_port=free_port(),
            pg_database="chimera",
            database_url=None,
        )
    )


async def outages(
    broker: Any, server: Any, root: Path, *, load: int, rate: float, down_s: float
) -> dict[str, Any]:
    """`outage_scenario` on a broker and a server of the run's own (started): the broker
    stopped and started, then the server."""
    import uuid

    dsn = await create_database(server.settings.dsn(), f"chaos_{uuid.uuid4().hex[:8]}")
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        DATABASE_URL=dsn,
        topic_prefix=f"chaos-{uuid.uuid4().hex[:8]}",
        state_dir=root / "state",
    )
    world = World(settings, root)
    async with migrated_pool(settings) as pool:
        try:
            return await outage_scenario(
                world,
                pool,
                [
                    Outage("kafka", broker.down, broker.up, "kafka"),
                    Outage("postgres", server.down, server.up, "database"),
                ],
                load=load,
                rate=rate,
                down_s=down_s,
            )
        finally:
            world.stop()


async def main(trends: int, kills: int, load: int, poison: int, seed: int | None) -> None:
    """The big variant, one JSON line: kills and poison on the local stack (`chimera stack
    up`), then the outages on a broker and a server of the run's own."""
    import tempfile

    from bench.common import bench_env, emit, machine

    seed = seed if seed is not None else random.randrange(10**6)
    results: dict[str, Any] = {"bench": "chaos", "seed": seed, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="chimera-chaos-") as tmp:
        root = Path(tmp)
        async with bench_env("chaos") as settings:
            world = World(settings, root / "kills")
            async with migrated_pool(settings) as pool:
                try:
                    results["kills"] = await kills_scenario(
                        world,
                        pool,
                        trends=trends,
                        kills_per_agent=kills,
                        seed=seed,
                        rate=10.0,
                        poison_rounds=poison,
                    )
                    results["replay"] = await replay_scenario(world, pool, AGENTS)
                finally:
                    world.stop()
        broker, server = own_kafka(root), own_postgres(root)
        await asyncio.gather(asyncio.to_thread(broker.up), asyncio.to_thread(server.up))
        try:
            results["outages"] = await outages(
                broker, server, root / "outages", load=load, rate=load / 40, down_s=10
            )
        finally:
            await asyncio.gather(asyncio.to_thread(broker.down), asyncio.to_thread(server.down))
    emit(results)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trends", type=int, default=200)
    parser.add_argument("--kills", type=int, default=8, help="kills per agent")
    parser.add_argument("--load", type=int, default=2000, help="trends for the outages")
    parser.add_argument("--poison", type=int, default=5, help="poison corpora among the trends")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.trends, args.kills, args.load, args.poison, args.seed))


if __name__ == "__main__":
    cli()
