"""The orchestrator's handlers: plain functions of (event, transaction), no Kafka in sight.

Workflow state lives in `workflows`, one row per trend event (its correlation id).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from agents.orchestrator.policy import Policy, decide
from agents.runtime.repository import set_content_status, upsert_trends
from agents.runtime.store import Tx
from events import (
    ContentFailed,
    ContentReady,
    ContentRequested,
    Envelope,
    Published,
    PublishFailed,
    PublishRequested,
    TrendDiscovered,
)
from events.catalog import ContentRequestedPayload, PublishPlatform, PublishRequestedPayload

AGENT = "orchestrator"


def derived_id(*parts: object) -> uuid.UUID:
    """Deterministic ids: handling the same event twice can only produce the same event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "chimera:" + ":".join(map(str, parts)))


async def on_trends_discovered(events: list[TrendDiscovered], tx: Tx, policy: Policy) -> None:
    """Decide a batch of trends with set-based SQL: a handful of round trips per batch."""
    conn = tx.conn
    await upsert_trends(conn, [e.payload for e in events])
    topics = sorted({e.payload.topic.lower() for e in events})
    # Serialise decisions per topic across replicas (the cooldown check must see the others'
    # decisions); locks are taken in sorted order so two batches cannot deadlock.
    await conn.execute(
        """SELECT pg_advisory_xact_lock(h) FROM (
               SELECT hashtext('chimera-topic:' || t) AS h FROM unnest($1::text[]) AS t
               ORDER BY 1) AS ordered""", topics)
    covered = {r[0] for r in await conn.fetch(
        """SELECT DISTINCT topic FROM workflows WHERE topic = ANY($1) AND state <> 'rejected'
               AND created_at > now() - make_interval(secs => $2)""",
        topics, policy.topic_cooldown_hours * 3600)}
    # Today's budget counters, locked until commit so replicas cannot both spend the last slot.
    used = {r["platform"]: r["used"] for r in await conn.fetch(
        """SELECT platform, used FROM budget_usage
           WHERE day = (now() AT TIME ZONE 'UTC')::date FOR UPDATE""")}
    spent: dict[str, int] = {}
    contents: list[tuple[Any, ...]] = []
    workflows: list[tuple[Any, ...]] = []
    for event in events:
        trend = event.payload
        topic = trend.topic.lower()
        decision = decide(policy, trend, topic_recently_covered=topic in covered,
                          used_today=used)
        if not decision.accept:
            workflows.append((event.correlation_id, trend.id, topic, None, "rejected",
                              decision.reason, [], 0))
            await tx.audit("decide", cause=event, input_data={"trend_id": trend.id},
                           output_data={"accepted": False, "reason": decision.reason})
            continue
        covered.add(topic)
        for platform in decision.platforms:
            used[platform] = used.get(platform, 0) + 1
            spent[platform] = spent.get(platform, 0) + 1
        content_id = str(derived_id("content", event.correlation_id))
        contents.append((content_id, policy.style, json.dumps(
            {"format": policy.format, "correlation_id": str(event.correlation_id)}), trend.id))
        workflows.append((event.correlation_id, trend.id, topic, content_id, "generating",
                          "accepted", list(decision.platforms), 1))
        await tx.emit(ContentRequested.create(
            ContentRequestedPayload(
                content_id=content_id, trend=trend, style=policy.style, format=policy.format,
                platforms=[cast(PublishPlatform, p) for p in decision.platforms], attempt=1),
            producer=AGENT, causation=event, event_id=derived_id("requested", event.event_id),
        ), key=content_id)
        await tx.audit("decide", cause=event, input_data={"trend_id": trend.id},
                       output_data={"accepted": True, "content_id": content_id,
                                    "platforms": list(decision.platforms)})
        await tx.audit("content:draft", cause=event, input_data={"content_id": content_id})
    await conn.executemany(
        """INSERT INTO content (id, type, style, metadata, status, trend_id)
           VALUES ($1, 'video', $2, $3::jsonb, 'draft', $4)""", contents)
    await conn.executemany(
        """INSERT INTO workflows (correlation_id, trend_id, topic, content_id, state, reason,
                                  platforms, generate_attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""", workflows)
    await conn.executemany(
        """INSERT INTO budget_usage (day, platform, used)
           VALUES ((now() AT TIME ZONE 'UTC')::date, $1, $2)
           ON CONFLICT (day, platform) DO UPDATE SET used = budget_usage.used + EXCLUDED.used""",
        list(spent.items()))


async def _workflow(tx: Tx, content_id: str) -> Any:
    return await tx.conn.fetchrow(
        "SELECT * FROM workflows WHERE content_id = $1 FOR UPDATE", content_id)


async def on_content_ready(event: ContentReady, tx: Tx, policy: Policy) -> None:
    ready = event.payload
    workflow = await _workflow(tx, ready.content_id)
    if workflow is None or workflow["state"] != "generating":
        await tx.audit("ignore", cause=event, output_data={"reason": "no generating workflow"})
        return
    await tx.conn.execute(
        "UPDATE workflows SET state = 'publishing', updated_at = now() WHERE correlation_id = $1",
        workflow["correlation_id"])
    scheduled = datetime.now(UTC) + timedelta(seconds=policy.publish_delay_seconds)
    for platform in workflow["platforms"]:
        publication_id = str(derived_id("publication", ready.content_id, platform))
        await tx.emit(PublishRequested.create(
            PublishRequestedPayload.model_validate({
                "publication_id": publication_id, "content_id": ready.content_id,
                "platform": platform, "path": ready.path, "title": ready.title,
                "description": ready.description, "tags": ready.tags,
                "scheduled_at": scheduled.isoformat(), "attempt": 1,
            }, strict=False),
            producer=AGENT, causation=event,
            event_id=derived_id("publish", event.event_id, platform),
        ), key=ready.content_id)
    await tx.audit("schedule", cause=event,
                   output_data={"content_id": ready.content_id,
                                "platforms": list(workflow["platforms"]),
                                "scheduled_at": scheduled.isoformat()})


async def on_content_failed(event: ContentFailed, tx: Tx, policy: Policy) -> None:
    failed = event.payload
    workflow = await _workflow(tx, failed.content_id)
    if workflow is None or workflow["state"] != "generating":
        return
    if failed.error.retryable and failed.attempt < policy.max_generate_attempts:
        trend_row = await tx.conn.fetchrow("SELECT * FROM trends WHERE id = $1", failed.trend_id)
        content = await tx.conn.fetchrow("SELECT metadata FROM content WHERE id = $1",
                                         failed.content_id)
        await tx.conn.execute(
            """UPDATE workflows SET generate_attempts = $2, updated_at = now()
               WHERE correlation_id = $1""", workflow["correlation_id"], failed.attempt + 1)
        await set_content_status(tx.conn, failed.content_id, "draft")
        await tx.emit(ContentRequested.create(
            ContentRequestedPayload.model_validate({
                "content_id": failed.content_id, "trend": _trend_from_row(trend_row),
                "style": policy.style, "format": _format(content), "platforms":
                list(workflow["platforms"]), "attempt": failed.attempt + 1,
            }, strict=False),
            producer=AGENT, causation=event, event_id=derived_id("retry", event.event_id),
        ), key=failed.content_id)
        await tx.audit("retry-generate", cause=event,
                       output_data={"content_id": failed.content_id, "attempt": failed.attempt + 1})
        return
    await tx.conn.execute(
        """UPDATE workflows SET state = 'abandoned', reason = $2, updated_at = now()
           WHERE correlation_id = $1""", workflow["correlation_id"],
        f"generation failed at {failed.stage}: {failed.error.code}")
    await tx.audit("abandon", status="failure", cause=event,
                   output_data={"content_id": failed.content_id, "error": failed.error.code})
    await tx.alert(failed.error, subject=failed.content_id, cause=event,
                   context={"stage": failed.stage, "attempt": failed.attempt})


async def on_published(event: Published, tx: Tx, policy: Policy) -> None:
    del policy
    await _settle(tx, event, event.payload.content_id)


async def on_publish_failed(event: PublishFailed, tx: Tx, policy: Policy) -> None:
    failed = event.payload
    workflow = await _workflow(tx, failed.content_id)
    if workflow is None:
        return
    if (failed.error.retryable and not failed.outcome_unknown
            and failed.attempt < policy.max_publish_attempts):
        row = await tx.conn.fetchrow(
            """SELECT p.*, c.local_path FROM publications p JOIN content c ON c.id = p.content_id
               WHERE p.id = $1""", failed.publication_id)
        if row is not None:
            delay = 30 * 2 ** (failed.attempt - 1)
            await tx.emit(PublishRequested.create(
                PublishRequestedPayload.model_validate({
                    "publication_id": failed.publication_id, "content_id": failed.content_id,
                    "platform": failed.platform, "path": row["local_path"] or "",
                    "title": row["title"], "description": row["description"] or "",
                    "tags": list(row["tags"] or []),
                    "scheduled_at": (datetime.now(UTC) + timedelta(seconds=delay)).isoformat(),
                    "attempt": failed.attempt + 1,
                }, strict=False),
                producer=AGENT, causation=event, event_id=derived_id("retry", event.event_id),
            ), key=failed.content_id)
            await tx.audit("retry-publish", cause=event,
                           output_data={"publication_id": failed.publication_id,
                                        "attempt": failed.attempt + 1})
            return
    await tx.alert(failed.error, subject=failed.publication_id, cause=event,
                   context={"platform": failed.platform, "outcome_unknown": failed.outcome_unknown})
    await _settle(tx, event, failed.content_id)


async def _settle(tx: Tx, event: Envelope[Any], content_id: str) -> None:
    """Close the workflow once every platform has a final outcome."""
    workflow = await _workflow(tx, content_id)
    if workflow is None or workflow["state"] != "publishing":
        return
    rows = await tx.conn.fetch(
        "SELECT platform, status FROM publications WHERE content_id = $1", content_id)
    status = {r["platform"]: r["status"] for r in rows}
    final = {"published", "failed", "unknown"}
    if not all(status.get(p) in final for p in workflow["platforms"]):
        return
    published = [p for p in workflow["platforms"] if status[p] == "published"]
    state = ("completed" if len(published) == len(workflow["platforms"])
             else "partial" if published else "abandoned")
    await tx.conn.execute(
        "UPDATE workflows SET state = $2, updated_at = now() WHERE correlation_id = $1",
        workflow["correlation_id"], state)
    if published:
        await set_content_status(tx.conn, content_id, "published")
    await tx.audit(f"workflow:{state}", cause=event,
                   output_data={"content_id": content_id, "publications": status})


def _trend_from_row(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "platform": row["platform"], "topic": row["topic"],
        "title": row["title"], "description": row["description"] or "",
        "engagement_metrics": json.loads(row["engagement_metrics"]),
        "velocity": row["velocity"], "timestamp": row["fetched_at"].isoformat(),
        "url": row["url"], "tags": list(row["tags"] or []),
    }


def _format(content: Any) -> str:
    meta = json.loads(content["metadata"]) if content and content["metadata"] else {}
    return str(meta.get("format", "vertical"))

