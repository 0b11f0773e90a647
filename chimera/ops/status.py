"""`chimera status`: what the pipeline is doing, from PostgreSQL and Kafka.

What it shows:
- per agent (consumer group `<prefix>.<agent>`): the group's state, its members (client id,
  host, assigned partitions) and its lag per partition of every topic it consumes
  (end offset - committed offset; a partition the group never committed counts from its first
  retained record, as the agents start there);
- dead letters: the depth of every `<topic>.dlq` (end - beginning offset) and, when the
  `<prefix>.dlq-handled` consumer group exists (`chimera dlq` commits there), how many of
  them nobody has handled yet;
- the latest OperatorAlerts (the last records of `<prefix>.alerts`);
- workflows, content and publications by state, and each agent's outbox backlog with the age
  of its oldest unsent row.

Exit code 1 (unhealthy) when:
- the database or the broker does not answer;
- an outbox row has waited more than CHIMERA_STATUS_OUTBOX_STALE_SECONDS (a relay is down);
- a publication's outcome is unknown (a person must check the platform);
- an agent's lag (summed over its topics) is above CHIMERA_STATUS_MAX_LAG.

Warnings only (exit 0): dead letters waiting, an agent group with no running member, topics
not created yet. Dead letters are a warning, not unhealthy, on purpose: each one has already
raised an OperatorAlert, the pipeline keeps moving around it, and a `.dlq` topic keeps its
records until retention removes them - as unhealthy, one poison message would fail every
health check for days. A group without members is a warning because an agent scaled to zero
with nothing to do is fine; once work waits for it, its lag shows and crosses the threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.repositories import reports
from chimera.ops.alerts import summary as alert_summary
from core.db import require_schema
from core.kafka import admin_options
from core.settings import Settings
from events import DecodeError, OperatorAlert, Topics, decode


class StatusSettings(BaseSettings):
    """Thresholds of `chimera status` (environment variables CHIMERA_STATUS_*)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_STATUS_", env_file=".env", extra="ignore")

    max_lag: int = Field(
        default=1000, ge=0, description="Unhealthy when an agent has more records waiting."
    )
    outbox_stale_seconds: float = Field(
        default=60.0, gt=0, description="Unhealthy when an unsent outbox row is older."
    )
    alerts: int = Field(
        default=10, ge=0, le=1000, description="How many of the latest OperatorAlerts to show."
    )
    timeout_seconds: float = Field(
        default=15.0, gt=0, description="Give up on Kafka after this long."
    )


def dlq_handled_group(settings: Settings) -> str:
    """The consumer group `chimera dlq` commits handled dead letters in."""
    return f"{settings.topic_prefix}.dlq-handled"


async def collect(settings: Settings, options: StatusSettings | None = None) -> dict[str, Any]:
    """Everything `chimera status` reports, as plain JSON-ready data, health decided."""
    options = options or StatusSettings()
    report: dict[str, Any] = {
        "database": settings.redacted_dsn(),
        "kafka": settings.bootstrap_servers,
        "topic_prefix": settings.topic_prefix,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "thresholds": {
            "max_lag": options.max_lag,
            "outbox_stale_seconds": options.outbox_stale_seconds,
        },
        "problems": [],
        "warnings": [],
    }
    try:
        report.update(await asyncio.wait_for(_kafka(settings, options), options.timeout_seconds))
        report["kafka_up"] = True
    except (KafkaError, OSError, TimeoutError) as exc:
        report["kafka_up"] = False
        report["problems"].append(f"kafka does not answer: {type(exc).__name__}")
    report["database_up"] = await _database(settings, report)
    _judge(report, options)
    return report


# --- Kafka ----------------------------------------------------------------------------------
def _agent_topics(settings: Settings) -> dict[str, list[str]]:
    """Each agent's consumed topics, from its own subscriptions (building starts nothing)."""
    import agents

    return {
        name: list(dict.fromkeys(s.topic for s in agents.build(name, settings).subscriptions))
        for name in agents.AGENTS
    }


async def _kafka(settings: Settings, options: StatusSettings) -> dict[str, Any]:
    topics = Topics(settings.topic_prefix)
    by_agent = _agent_topics(settings)
    dlqs = [Topics.dlq(t) for t in topics.all(with_dlq=False)]
    wanted = list(
        dict.fromkeys([t for ts in by_agent.values() for t in ts] + dlqs + [topics.alerts])
    )
    admin = AIOKafkaAdminClient(**admin_options(settings), request_timeout_ms=10_000)
    consumer: AIOKafkaConsumer | None = None
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        present = [t for t in wanted if t in existing]
        described = await admin.describe_topics(present) if present else []
        partitions: dict[str, list[TopicPartition]] = {
            t["topic"]: sorted(TopicPartition(t["topic"], p["partition"]) for p in t["partitions"])
            for t in described
        }
        groups = {g[0] for g in await admin.list_consumer_groups()}
        consumer = AIOKafkaConsumer(
            **admin_options(settings), enable_auto_commit=False, request_timeout_ms=10_000
        )
        await consumer.start()
        # let its background task begin: stopping it before it ran raises CancelledError
        await asyncio.sleep(0)
        every = [tp for tps in partitions.values() for tp in tps]
        beginning = await consumer.beginning_offsets(every) if every else {}
        end = await consumer.end_offsets(every) if every else {}

        agents_report = {}
        for agent, agent_topics in by_agent.items():
            group = f"{settings.topic_prefix}.{agent}"
            agents_report[agent] = await _group(
                admin, group, group in groups, agent_topics, partitions, beginning, end
            )

        handled_group = dlq_handled_group(settings)
        handled: dict[TopicPartition, int] | None = None
        if handled_group in groups:
            handled = await _committed(
                admin, handled_group, [tp for t in dlqs for tp in partitions.get(t, [])]
            )
        dead_letters = {}
        for dlq in dlqs:
            tps = partitions.get(dlq, [])
            depth = sum(end[tp] - beginning[tp] for tp in tps)
            entry: dict[str, Any] = {"depth": depth, "unhandled": None}
            if handled is not None:
                entry["unhandled"] = sum(
                    max(end[tp] - max(handled.get(tp, -1), beginning[tp]), 0) for tp in tps
                )
            dead_letters[dlq] = entry

        alerts = await _latest_alerts(
            consumer, partitions.get(topics.alerts, []), beginning, end, options.alerts
        )
    finally:
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()
    return {
        "agents": agents_report,
        "dead_letters": dead_letters,
        "dlq_handled_group": handled_group if handled is not None else None,
        "alerts": alerts,
        "missing_topics": sorted(set(wanted) - existing),
    }


async def _committed(
    admin: AIOKafkaAdminClient, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offsets on `tps` (partitions it never committed are left out)."""
    if not tps:
        return {}
    offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def _group(
    admin: AIOKafkaAdminClient,
    group: str,
    exists: bool,
    topics: list[str],
    partitions: dict[str, list[TopicPartition]],
    beginning: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
) -> dict[str, Any]:
    """One agent's consumer group: state, members, lag per partition of each topic."""
    state, members = "absent", []
    if exists:
        (response,) = await admin.describe_consumer_groups([group])
        (described,) = response.to_object()["groups"]
        state = described["state"] or "unknown"
        for member in described["members"]:
            assigned: list[str] = []
            with contextlib.suppress(Exception):
                assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
                assigned = [
                    f"{topic}[{','.join(map(str, sorted(parts)))}]"
                    for topic, parts in sorted(assignment.assignment)
                ]
            members.append(
                {
                    "client_id": member["client_id"],
                    "host": member["client_host"].lstrip("/"),
                    "member_id": member["member_id"],
                    "assigned": assigned,
                }
            )
        members.sort(key=lambda m: (m["client_id"], m["host"], m["member_id"]))
    tps = [tp for t in topics for tp in partitions.get(t, [])]
    committed = await _committed(admin, group, tps) if exists else {}
    topic_report: dict[str, Any] = {}
    for topic in topics:
        rows = []
        for tp in partitions.get(topic, []):
            done = committed.get(tp)
            # records before the first retained one are gone: they cannot be waiting
            start = beginning[tp] if done is None else max(done, beginning[tp])
            rows.append(
                {
                    "partition": tp.partition,
                    "end": end[tp],
                    "committed": done,
                    "lag": max(end[tp] - start, 0),
                }
            )
        topic_report[topic] = {"lag": sum(r["lag"] for r in rows), "partitions": rows}
    return {
        "group": group,
        "state": state,
        "members": members,
        "lag": sum(t["lag"] for t in topic_report.values()),
        "topics": topic_report,
    }


async def _latest_alerts(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    beginning: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
    count: int,
) -> list[dict[str, Any]]:
    """The last `count` OperatorAlerts on the alerts topic, newest first."""
    tps = [tp for tp in tps if end[tp] > beginning[tp]]
    if not tps or count == 0:
        return []
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, max(beginning[tp], end[tp] - count))
    records: list[Any] = []
    remaining = set(tps)
    while remaining:
        batch = await consumer.getmany(timeout_ms=500)
        for tp, part in batch.items():
            records.extend(r for r in part if r.offset < end[tp])
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
    alerts = []
    for record in records:
        try:
            event = decode(record.value, (OperatorAlert.EVENT_TYPE,))
        except DecodeError:
            continue
        assert isinstance(event, OperatorAlert)
        alerts.append(alert_summary(event))
    alerts.sort(key=lambda a: a["time"], reverse=True)
    return alerts[:count]


# --- PostgreSQL -----------------------------------------------------------------------------
async def _database(settings: Settings, report: dict[str, Any]) -> bool:
    try:
        conn = await asyncpg.connect(settings.dsn(), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        report["problems"].append(f"database does not answer: {type(exc).__name__}")
        return False
    try:
        await require_schema(settings)  # an unmigrated database is one line, not a traceback
        report.update(await reports.states(conn))
        report["outbox"] = await reports.outbox_backlog(conn)
        report["recent_workflows"] = await reports.recent_workflows(conn)
    finally:
        await conn.close()
    return True


# --- health ---------------------------------------------------------------------------------
def _judge(report: dict[str, Any], options: StatusSettings) -> None:
    problems, warnings = report["problems"], report["warnings"]
    for agent, backlog in report.get("outbox", {}).items():
        if backlog["oldest_seconds"] > options.outbox_stale_seconds:
            problems.append(
                f"outbox of {agent}: {backlog['unsent']} unsent, oldest "
                f"{backlog['oldest_seconds']:.0f}s (is its relay running?)"
            )
    if report.get("publications", {}).get("unknown"):
        problems.append(f"{report['publications']['unknown']} publication(s) with unknown outcome")
    for agent, group in report.get("agents", {}).items():
        if group["lag"] > options.max_lag:
            problems.append(
                f"{agent} is {group['lag']} record(s) behind "
                f"(more than CHIMERA_STATUS_MAX_LAG={options.max_lag})"
            )
        if not group["members"]:
            warnings.append(f"{agent}: no running consumer in group {group['group']}")
    for topic, dead in report.get("dead_letters", {}).items():
        waiting = dead["unhandled"] if dead["unhandled"] is not None else dead["depth"]
        if waiting:
            warnings.append(
                f"{topic}: {waiting} dead letter(s)"
                + (" not handled yet" if dead["unhandled"] is not None else "")
            )
    if report.get("missing_topics"):
        warnings.append(
            f"{len(report['missing_topics'])} topic(s) not created yet "
            "(an agent creates them when it starts)"
        )
    report["healthy"] = not problems


# --- rendering ------------------------------------------------------------------------------
def render(report: dict[str, Any]) -> str:
    """The report as a readable table."""
    kafka_state = "up" if report.get("kafka_up") else "down"
    db_state = "up" if report.get("database_up") else "down"
    lines = [
        f"{'HEALTHY' if report['healthy'] else 'UNHEALTHY'}   "
        f"kafka {report['kafka']} ({kafka_state})   "
        f"database {report['database']} ({db_state})   prefix {report['topic_prefix']}"
    ]
    lines += [f"  ! {problem}" for problem in report["problems"]]
    lines += [f"  ~ {warning}" for warning in report["warnings"]]

    if "agents" in report:
        lines += [
            "",
            f"{'AGENT':<13} {'GROUP':<28} {'STATE':<12} {'MEMBERS':>7} {'LAG':>7}  "
            "LAG PER PARTITION (partition:lag)",
        ]
        for agent, group in report["agents"].items():
            first = True
            for topic, entry in group["topics"].items():
                parts = " ".join(f"{p['partition']}:{p['lag']}" for p in entry["partitions"])
                detail = f"{topic} [{parts or 'no partitions'}]"
                if first:
                    lines.append(
                        f"{agent:<13} {group['group']:<28} {group['state']:<12} "
                        f"{len(group['members']):>7} {group['lag']:>7}  {detail}"
                    )
                    first = False
                else:
                    lines.append(f"{'':<13} {'':<28} {'':<12} {'':>7} {'':>7}  {detail}")
            for m in group["members"]:
                lines.append(
                    f"{'':<13} member {m['client_id']} on {m['host']}: "
                    f"{' '.join(m['assigned']) or 'nothing assigned'}"
                )

        dead = {t: d for t, d in report["dead_letters"].items() if d["depth"]}
        handled = report.get("dlq_handled_group")
        lines += [
            "",
            "DEAD LETTERS  "
            + (f"(handled: group {handled})" if handled else "(no dlq-handled group yet)"),
        ]
        if not dead:
            lines.append("  none")
        for topic, d in dead.items():
            extra = f", {d['unhandled']} unhandled" if d["unhandled"] is not None else ""
            lines.append(f"  {topic:<40} {d['depth']} record(s){extra}")

        lines += ["", f"LATEST ALERTS ({len(report['alerts'])})"]
        if not report["alerts"]:
            lines.append("  none")
        for a in report["alerts"]:
            when = a["time"][:19].replace("T", " ")
            lines.append(
                f"  {when}  {a['severity']:<8} {a['source']:<12} {a['code']:<20} "
                f"{a['subject'][:40]:<40} {a['message'][:100]}"
            )

    if "workflows" in report:
        lines.append("")
        for section in ("workflows", "content", "publications"):
            values = ", ".join(f"{k} {v}" for k, v in sorted(report[section].items())) or "none"
            lines.append(f"{section:<13} {values}")
        backlog = (
            ", ".join(
                f"{a} {b['unsent']} (oldest {b['oldest_seconds']:.0f}s)"
                for a, b in sorted(report["outbox"].items())
            )
            or "empty"
        )
        lines.append(f"{'outbox':<13} {backlog}")
        for w in report.get("recent_workflows", []):
            when = f"{w['updated_at']:%Y-%m-%d %H:%M:%S}"
            lines.append(f"  {when}  {w['state']:<10} {w['topic'][:40]:<40}  {w['reason'] or ''}")
    return "\n".join(lines)
