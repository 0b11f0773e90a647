"""The approval gate on the real broker and database: held until approved, decided once,
replays of the commands topic harmless, expiry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg

from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.publish.app import build as build_publish
from agents.publish.handlers import PublishAgentSettings
from agents.runtime import AgentRuntime
from chimera.auth import users
from chimera.ops import review
from chimera.ops.offsets import reset_to_earliest
from core.ids import derived_id
from core.settings import Settings
from events import ContentReady, Topics, TrendDiscovered, encode
from events.catalog import ContentReadyPayload
from tests.support import produce, read_topic, trend, wait_for

GATED = Policy(platforms=["local"], approval_default="required")


async def hold_one(settings: Settings, pool: asyncpg.Pool, n: int, video: Path) -> str:
    """A trend decided by the orchestrator, then its video ready: returns the content id."""
    topics = Topics(settings.topic_prefix)
    discovered = TrendDiscovered.create(trend(n), producer="test")
    await produce(
        settings,
        topics.trends,
        [(discovered.payload.id.encode(), encode(discovered))],
    )
    content_id = str(derived_id("content", discovered.correlation_id))

    async def generating() -> bool:
        return (
            await pool.fetchval(
                "SELECT state = 'generating' FROM workflows WHERE content_id = $1", content_id
            )
            is True
        )

    await wait_for(generating, what="the decision")
    # What the generate agent does when its render is done: the row, then the event.
    await pool.execute(
        "UPDATE content SET status = 'ready', local_path = $2 WHERE id = $1", content_id, str(video)
    )
    ready = ContentReady.create(
        ContentReadyPayload(
            content_id=content_id,
            trend_id=discovered.payload.id,
            path=str(video),
            duration=1.0,
            width=64,
            height=64,
            sha256=hashlib.sha256(video.read_bytes()).hexdigest(),
            title=f"Generated title {n}",
            description="generated",
            tags=["tech"],
        ),
        producer="generate",
        correlation_id=discovered.correlation_id,
    )
    await produce(settings, topics.content_events, [(content_id.encode(), encode(ready))])

    async def held() -> bool:
        return (
            await pool.fetchval("SELECT status FROM reviews WHERE content_id = $1", content_id)
            == "pending"
        )

    await wait_for(held, what="the review to be opened")
    return content_id


async def is_published(pool: asyncpg.Pool, content_id: str) -> bool:
    status = await pool.fetchval(
        "SELECT status FROM publications WHERE content_id = $1", content_id
    )
    return bool(status == "published")


def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(256))
    return path


async def audits(pool: asyncpg.Pool, action: str) -> list[dict[str, Any]]:
    """The AuditRecorded payloads with `action` the agents wrote to their outboxes."""
    found = []
    for (value,) in await pool.fetch("SELECT value FROM outbox WHERE event_type = 'AuditRecorded'"):
        payload = json.loads(value)["payload"]
        if payload["action"] == action:
            found.append(payload)
    return found


def agents(settings: Settings, policy: Policy) -> list[AgentRuntime]:
    return [
        build_orchestrator(settings, policy),
        build_publish(settings, PublishAgentSettings(poll_seconds=0.2, engagement_seconds=0)),
    ]


async def test_required_holds_until_approved_and_a_replay_approves_nothing_twice(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    topics = Topics(settings.topic_prefix)
    video = video_file(tmp_path)
    await users.add_user(pool, "rita", "reviewer", "correct horse battery")
    async with AsyncExitStack() as stack:
        for runtime in agents(settings, GATED):
            await stack.enter_async_context(runtime.running())
        content_id = await hold_one(settings, pool, 1, video)

        # Held: nothing is requested or published while nobody decides.
        await asyncio.sleep(2.0)
        assert await pool.fetchval("SELECT count(*) FROM publications") == 0
        assert (
            await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'PublishRequested'")
            == 0
        )
        assert await pool.fetchval("SELECT status FROM content WHERE id = $1", content_id) == (
            "awaiting_approval"
        )
        assert (
            await pool.fetchval("SELECT state FROM workflows WHERE content_id = $1", content_id)
            == "awaiting_approval"
        )

        pending = await review.pending_review(pool, content_id)
        who = await review.reviewer(pool, "rita")
        approve = review.approval(
            pending,
            who.name,
            {"title": "Edited by Rita", "tags": ["edited"]},
            reason="on brand",
            nonce="form-1",
            producer=review.PRODUCER_CLI,
        )
        # The same form sent twice is one command (same event id: the inbox drops it).
        await review.submit(settings, approve)
        await review.submit(settings, approve)
        outcome = await review.wait_for_outcome(pool, approve.event_id)
        assert outcome.state == "applied" and "rita" in outcome.detail

        await wait_for(lambda: is_published(pool, content_id), what="the approved publication")
        row = await pool.fetchrow("SELECT title, tags FROM publications")
        assert row["title"] == "Edited by Rita" and list(row["tags"]) == ["edited"]

        # A second decision (someone else's form) is refused, recorded and audited.
        late = review.rejection(
            pending, "rita", "changed my mind", nonce="form-2", producer=review.PRODUCER_CLI
        )
        await review.submit(settings, late)
        refused = await review.wait_for_outcome(pool, late.event_id)
        assert refused.state == "refused"
        assert "already approved by rita" in refused.detail
        assert "never applied" in refused.detail

        async def workflow_done() -> bool:
            return (
                await pool.fetchval("SELECT state FROM workflows WHERE content_id = $1", content_id)
                == "completed"
            )

        await wait_for(workflow_done, what="the workflow to complete")
        approved_audit = await audits(pool, "review:approved")
        assert [a["input_data"]["actor"] for a in approved_audit] == ["rita"]
        assert len(await audits(pool, "review:refused")) == 1

    before = {
        t: sorted(json.dumps(dict(r), default=str) for r in await pool.fetch(f"SELECT * FROM {t}"))
        for t in ("reviews", "review_refusals", "publications", "workflows", "content")
    }
    requests_before = await read_topic(settings, topics.publish_requests, timeout=4)
    assert len(requests_before) == 1

    # Replay the whole commands topic into the orchestrator: nothing is applied again.
    orchestrator = build_orchestrator(settings, GATED)
    moved = await reset_to_earliest(settings, orchestrator.group, [topics.review_commands])
    assert sum(moved.values()) == 3
    async with orchestrator.running():

        async def replayed() -> bool:
            stats = orchestrator.stats()["orchestrator.reviews"]
            return stats["processed"] + stats["duplicates"] >= 3

        await wait_for(replayed, what="the replayed commands")
        await asyncio.sleep(1.0)
    after = {
        t: sorted(json.dumps(dict(r), default=str) for r in await pool.fetch(f"SELECT * FROM {t}"))
        for t in before
    }
    assert after == before
    requests_after = await read_topic(settings, topics.publish_requests, timeout=4)
    assert len(requests_after) == 1
    assert orchestrator.stats()["orchestrator.reviews"]["processed"] == 0


async def test_a_rejection_publishes_nothing_and_declines_the_workflow(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        for runtime in agents(settings, GATED):
            await stack.enter_async_context(runtime.running())
        content_id = await hold_one(settings, pool, 2, video_file(tmp_path))
        pending = await review.pending_review(pool, content_id)
        reject = review.rejection(
            pending, "maria", "off brand", nonce=uuid.uuid4().hex, producer=review.PRODUCER_CLI
        )
        await review.submit(settings, reject)
        assert (await review.wait_for_outcome(pool, reject.event_id)).state == "applied"
        await asyncio.sleep(1.0)
    assert await pool.fetchval("SELECT count(*) FROM publications") == 0
    assert await pool.fetchval("SELECT status FROM content WHERE id = $1", content_id) == "rejected"
    state, reason = await pool.fetchrow(
        "SELECT state, reason FROM workflows WHERE content_id = $1", content_id
    )
    assert state == "declined" and reason == "rejected by maria: off brand"
    [audit] = await audits(pool, "review:rejected")
    assert audit["input_data"] == {
        "content_id": content_id,
        "actor": "maria",
        "reason": "off brand",
    }


async def test_expiry_decides_once_as_the_policy_says(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    policy = GATED.model_copy(
        update={
            "approval_expiry_seconds": 1.0,
            "approval_check_seconds": 0.2,
            "approval_expiry_action": "approve",
        }
    )
    video = video_file(tmp_path)
    async with AsyncExitStack() as stack:
        for runtime in agents(settings, policy):
            await stack.enter_async_context(runtime.running())
        content_id = await hold_one(settings, pool, 3, video)

        await wait_for(
            lambda: is_published(pool, content_id), what="the expiry's approval to be published"
        )
    row = await pool.fetchrow("SELECT * FROM reviews WHERE content_id = $1", content_id)
    assert row["status"] == "approved" and row["expired"] and row["decided_by"] == "expiry"
    assert row["decision_event_id"] == derived_id("review-expiry", content_id)
    [audit] = await audits(pool, "review:expired")
    assert audit["output_data"]["decision"] == "approved"

    # Another round of the loop (a restarted orchestrator) decides nothing again.
    async with build_orchestrator(settings, policy).running():
        await asyncio.sleep(1.0)
    assert len(await audits(pool, "review:expired")) == 1
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'PublishRequested'")
        == 1
    )

    # With the default action, an expired review is rejected.
    rejecting = policy.model_copy(update={"approval_expiry_action": "reject"})
    async with AsyncExitStack() as stack:
        for runtime in agents(settings, rejecting):
            await stack.enter_async_context(runtime.running())
        other = await hold_one(settings, pool, 4, video)

        async def rejected() -> bool:
            return (
                await pool.fetchval("SELECT status FROM reviews WHERE content_id = $1", other)
                == "rejected"
            )

        await wait_for(rejected, what="the expiry's rejection")
    assert (
        await pool.fetchval("SELECT count(*) FROM publications WHERE content_id = $1", other) == 0
    )
    assert await pool.fetchval("SELECT state FROM workflows WHERE content_id = $1", other) == (
        "declined"
    )
