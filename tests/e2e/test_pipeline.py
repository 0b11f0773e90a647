"""The whole pipeline on the real broker and database, then a full replay of every agent."""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agents.audit.app import build as build_audit
from agents.generate.app import build as build_generate
from agents.generate.handlers import GenerateSettings
from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.publish.app import build as build_publish
from agents.publish.handlers import PublishAgentSettings
from agents.research.app import build as build_research
from agents.research.handlers import ResearchSettings
from agents.runtime import AgentRuntime
from agents.runtime.specification import emitted_event_types
from chimera.ops.offsets import reset_to_earliest
from core.settings import Settings
from events import Topics, TrendDiscovered, decode, encode
from events.topics import STREAMS
from tests.support import produce, read_topic, trend, wait_for

pytestmark = pytest.mark.slow
TABLES = (
    "trends",
    "content",
    "publications",
    "engagement",
    "audit_logs",
    "workflows",
    "inbox",
    "outbox",
)


def agents(settings: Settings, engagement_seconds: float) -> list[AgentRuntime]:
    # The audit sink first: it starts first and stops last, after the others' final audits.
    return [
        build_audit(settings),
        build_research(settings, ResearchSettings(interval_seconds=0)),
        build_orchestrator(settings, Policy(platforms=["local"])),
        build_generate(
            settings,
            GenerateSettings(
                resolution_scale=0.15, narrate=True, target_duration_s=10, preset="ultrafast"
            ),
        ),
        build_publish(
            settings,
            PublishAgentSettings(
                poll_seconds=0.2, privacy="public", engagement_seconds=engagement_seconds
            ),
        ),
    ]


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    tables = {}
    for table in TABLES:
        rows = await pool.fetch(f"SELECT * FROM {table}")
        tables[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    return tables


async def topic_contents(settings: Settings) -> dict[str, list[Any]]:
    topics = Topics(settings.topic_prefix)
    found = {}
    for suffix in STREAMS:
        name = topics.name(suffix)
        found[name] = await read_topic(settings, name, timeout=4)
    return found


async def test_injected_trends_flow_to_published_videos_and_replay_changes_nothing(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    injected = [
        TrendDiscovered.create(trend(n, tags=["tech", f"t{n}"]), producer="producer")
        for n in (1, 2, 3)
    ]

    # --- 1. the pipeline, end to end --------------------------------------------------------
    audit, *others = agents(settings, engagement_seconds=1.0)
    async with audit.running():
        async with AsyncExitStack() as stack:
            for runtime in others:
                await stack.enter_async_context(runtime.running())
            await produce(
                settings,
                topics.trends,
                [(e.payload.id.encode(), encode(e)) for e in injected],
            )

            async def finished() -> bool:
                return (
                    await pool.fetchval("SELECT count(*) FROM workflows WHERE state = 'completed'")
                    == 3
                    and await pool.fetchval("SELECT count(DISTINCT publication_id) FROM engagement")
                    == 3
                )

            await wait_for(finished, timeout=480, what="three published videos with engagement")

        async def audited() -> bool:  # every audit event the others emitted is stored
            return await pool.fetchval("SELECT count(*) FROM audit_logs") == await pool.fetchval(
                "SELECT count(*) FROM outbox WHERE event_type = 'AuditRecorded'"
            )

        await wait_for(audited, what="the audit sink to catch up")

    counts = {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    assert counts["trends"] == 3
    assert counts["content"] == 3
    assert counts["publications"] == 3
    assert counts["engagement"] >= 3
    assert counts["audit_logs"] > 3 * 8  # decisions, skill calls, transitions, publications
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    statuses = {r["status"] for r in await pool.fetch("SELECT status FROM content")}
    assert statuses == {"published"}
    for row in await pool.fetch("SELECT local_path, metadata FROM content"):
        assert Path(row["local_path"]).stat().st_size > 0
        assert json.loads(row["metadata"])["has_audio"] is True
    skills_called = {
        r[0]
        for r in await pool.fetch(
            "SELECT DISTINCT skill_name FROM audit_logs WHERE skill_name IS NOT NULL"
        )
    }
    assert {
        "skill_write_script",
        "skill_generate_video",
        "skill_publish_content",
        "skill_fetch_engagement",
    } <= skills_called
    # What each agent declares it emits (the AsyncAPI documents' source) covers what it did.
    declared = {r.name: set(emitted_event_types(r)) for r in [audit, *others]}
    for row in await pool.fetch("SELECT DISTINCT agent, event_type FROM outbox"):
        assert row["event_type"] in declared[row["agent"]], dict(row)
    page = (settings.state_dir / "publish" / "index.html").read_text()
    assert all(row["title"] in page for row in await pool.fetch("SELECT title FROM publications"))

    wire = await topic_contents(settings)
    per_topic_types = {
        name: {decode(r.value).event_type for r in records} for name, records in wire.items()
    }
    assert per_topic_types[topics.trends] == {"TrendDiscovered"}
    assert per_topic_types[topics.content_requests] == {"ContentRequested"}
    assert per_topic_types[topics.content_events] == {"ContentReady"}
    assert per_topic_types[topics.publish_requests] == {"PublishRequested"}
    assert per_topic_types[topics.publish_events] == {"Published"}
    assert per_topic_types[topics.engagement] == {"EngagementRecorded"}
    assert per_topic_types[topics.audit] == {"AuditRecorded"}
    # Per key, events arrive in the order of the workflow; one workflow per trend.
    by_content: dict[str, list[str]] = defaultdict(list)
    for name in (
        topics.content_requests,
        topics.content_events,
        topics.publish_requests,
        topics.publish_events,
    ):
        for record in wire[name]:
            by_content[record.key.decode()].append(decode(record.value).event_type)
    assert len(by_content) == 3
    for sequence in by_content.values():
        assert sequence == ["ContentRequested", "ContentReady", "PublishRequested", "Published"]
    correlation = {e.correlation_id for e in injected}
    for name in (
        topics.content_requests,
        topics.content_events,
        topics.publish_requests,
        topics.publish_events,
    ):
        assert {decode(r.value).correlation_id for r in wire[name]} == correlation

    # --- 2. replay: every agent's group back to the earliest offset -------------------------
    before = await snapshot(pool)
    before_wire = {name: sorted(r.value for r in records) for name, records in wire.items()}
    page_before = page
    replayed_total = 0
    for runtime in agents(settings, engagement_seconds=0):
        replayed = await reset_to_earliest(
            settings, runtime.group, [s.topic for s in runtime.subscriptions]
        )
        replayed_total += sum(replayed.values())
    assert replayed_total > 20

    async with AsyncExitStack() as stack:
        runtimes = agents(settings, engagement_seconds=0)
        for runtime in runtimes:
            await stack.enter_async_context(runtime.running())

        async def replayed_all() -> bool:
            seen = sum(
                sum(s["processed"] + s["duplicates"] for s in r.stats().values()) for r in runtimes
            )
            return seen >= replayed_total

        await wait_for(replayed_all, timeout=120, what="every agent re-reading its topics")
        duplicates = sum(sum(s["duplicates"] for s in r.stats().values()) for r in runtimes)
        processed = {r.name: {k: s["processed"] for k, s in r.stats().items()} for r in runtimes}
    assert duplicates > 0
    # Only the audit sink (idempotent by primary key) re-processes; nothing else acts again.
    assert all(
        n == 0 for name, subs in processed.items() if name != "audit" for n in subs.values()
    ), processed
    assert await snapshot(pool) == before
    after_wire = await topic_contents(settings)
    assert {
        name: sorted(r.value for r in records) for name, records in after_wire.items()
    } == before_wire
    assert (settings.state_dir / "publish" / "index.html").read_text() == page_before
