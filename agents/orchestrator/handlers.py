"""The orchestrator's handlers: plain functions of (event, transaction), no Kafka in sight.

Workflow state lives in `workflows`, one row per trend event (its correlation id); its SQL is in
`agents.repositories`, the publication retry rule in `agents.publication`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from agents import publication
from agents.orchestrator.policy import Policy, decide
from agents.repositories import content, publications, reviews, trends, workflows
from agents.runtime import Tx, delegates_to, emits
from core.ids import derived_id
from events import (
    AuditRecorded,
    ContentFailed,
    ContentReady,
    ContentRequested,
    Envelope,
    OperatorAlert,
    Published,
    PublishFailed,
    PublishRequested,
    TrendDiscovered,
)
from events.catalog import ContentRequestedPayload, PublishPlatform, PublishRequestedPayload

AGENT = "orchestrator"


@emits(ContentRequested, AuditRecorded)
async def on_trends_discovered(events: list[TrendDiscovered], tx: Tx, policy: Policy) -> None:
    """Decide a batch of trends with set-based SQL: a handful of round trips per batch."""
    conn = tx.conn
    await trends.upsert_trends(conn, [e.payload for e in events])
    topics = sorted({e.payload.topic.lower() for e in events})
    # The cooldown check must see the other replicas' decisions: one topic at a time.
    await workflows.lock_topics(conn, topics)
    covered = await workflows.covered_topics(conn, topics, policy.topic_cooldown_hours * 3600)
    used = await workflows.budget_used_today(conn)
    spent: dict[str, int] = {}
    drafts: list[tuple[str, str, dict[str, Any], str]] = []
    rows: list[workflows.WorkflowRow] = []
    for event in events:
        trend = event.payload
        topic = trend.topic.lower()
        decision = decide(policy, trend, topic_recently_covered=topic in covered, used_today=used)
        if not decision.accept:
            rows.append(
                (event.correlation_id, trend.id, topic, None, "rejected", decision.reason, [], 0)
            )
            await tx.audit(
                "decide",
                cause=event,
                input_data={"trend_id": trend.id},
                output_data={"accepted": False, "reason": decision.reason},
            )
            continue
        covered.add(topic)
        for platform in decision.platforms:
            used[platform] = used.get(platform, 0) + 1
            spent[platform] = spent.get(platform, 0) + 1
        content_id = str(derived_id("content", event.correlation_id))
        drafts.append(
            (
                content_id,
                policy.style,
                {"format": policy.format, "correlation_id": str(event.correlation_id)},
                trend.id,
            )
        )
        rows.append(
            (
                event.correlation_id,
                trend.id,
                topic,
                content_id,
                "generating",
                "accepted",
                list(decision.platforms),
                1,
            )
        )
        await tx.emit(
            ContentRequested.create(
                ContentRequestedPayload(
                    content_id=content_id,
                    trend=trend,
                    style=policy.style,
                    format=policy.format,
                    platforms=[cast(PublishPlatform, p) for p in decision.platforms],
                    attempt=1,
                ),
                producer=AGENT,
                causation=event,
                event_id=derived_id("requested", event.event_id),
            ),
            key=content_id,
        )
        await tx.audit(
            "decide",
            cause=event,
            input_data={"trend_id": trend.id},
            output_data={
                "accepted": True,
                "content_id": content_id,
                "platforms": list(decision.platforms),
            },
        )
        await tx.audit("content:draft", cause=event, input_data={"content_id": content_id})
    await content.insert_drafts(conn, drafts)
    await workflows.insert(conn, rows)
    await workflows.spend_budget(conn, spent.items())


@emits(PublishRequested, AuditRecorded)
async def on_content_ready(event: ContentReady, tx: Tx, policy: Policy) -> None:
    """Publish a ready video where the gate is `auto`; hold it for approval where `required`."""
    ready = event.payload
    workflow = await workflows.for_content(tx.conn, ready.content_id)
    if workflow is None or workflow["state"] != "generating":
        await tx.audit("ignore", cause=event, output_data={"reason": "no generating workflow"})
        return
    auto, gated = policy.split_by_gate(workflows.platforms(workflow))
    scheduled = datetime.now(UTC) + timedelta(seconds=policy.publish_delay_seconds)
    await request_publications(
        tx,
        event,
        Release(
            content_id=ready.content_id,
            correlation_id=workflow["correlation_id"],
            path=ready.path,
            title=ready.title,
            description=ready.description,
            tags=list(ready.tags),
            scheduled_at=scheduled,
        ),
        auto,
        policy.accounts,
    )
    if gated:
        await workflows.set_state(tx.conn, workflow["correlation_id"], "awaiting_approval")
        await content.set_content_status(tx.conn, ready.content_id, "awaiting_approval")
        await reviews.open_review(
            tx.conn,
            content_id=ready.content_id,
            correlation_id=workflow["correlation_id"],
            platforms=gated,
            title=ready.title,
            description=ready.description,
            tags=ready.tags,
            path=ready.path,
            expires_in_s=policy.approval_expiry_seconds or None,
        )
        await tx.audit(
            "review:requested",
            cause=event,
            output_data={
                "content_id": ready.content_id,
                "platforms": gated,
                "published_at_once": auto,
                "expires_in_s": policy.approval_expiry_seconds or None,
            },
        )
    else:
        await workflows.set_state(tx.conn, workflow["correlation_id"], "publishing")
    if auto:
        await tx.audit(
            "schedule",
            cause=event,
            output_data={
                "content_id": ready.content_id,
                "platforms": auto,
                "scheduled_at": scheduled.isoformat(),
            },
        )


@dataclass(frozen=True)
class Release:
    """What a piece of content is published with (the generated values, or a reviewer's)."""

    content_id: str
    correlation_id: uuid.UUID
    path: str
    title: str
    description: str
    tags: list[str]
    scheduled_at: datetime


async def request_publications(
    tx: Tx,
    cause: Envelope[Any],
    release: Release,
    platforms: list[str],
    accounts: Mapping[str, str],
) -> None:
    """One PublishRequested per platform, each to the policy's account for that platform (none:
    the platform's only connected account); ids derived from the cause, so a replay adds none."""
    for platform in platforms:
        await tx.emit(
            PublishRequested.create(
                PublishRequestedPayload.model_validate(
                    {
                        "publication_id": str(
                            derived_id("publication", release.content_id, platform)
                        ),
                        "content_id": release.content_id,
                        "platform": platform,
                        "path": release.path,
                        "title": release.title,
                        "description": release.description,
                        "tags": release.tags,
                        "scheduled_at": release.scheduled_at.isoformat(),
                        "attempt": 1,
                        "account": accounts.get(platform),
                    },
                    strict=False,
                ),
                producer=AGENT,
                causation=cause,
                correlation_id=release.correlation_id,
                event_id=derived_id("publish", cause.event_id, platform),
            ),
            key=release.content_id,
        )


@emits(ContentRequested, AuditRecorded, OperatorAlert)
async def on_content_failed(event: ContentFailed, tx: Tx, policy: Policy) -> None:
    failed = event.payload
    workflow = await workflows.for_content(tx.conn, failed.content_id)
    if workflow is None or workflow["state"] != "generating":
        return
    plan = policy.generate_retry.plan(failed.attempt, retryable=failed.error.retryable)
    trend = await trends.trend_payload(tx.conn, failed.trend_id)
    if plan.action != "give_up" and trend is not None:
        meta = await content.metadata(tx.conn, failed.content_id)
        await workflows.set_generate_attempts(
            tx.conn, workflow["correlation_id"], failed.attempt + 1
        )
        await content.set_content_status(tx.conn, failed.content_id, "draft")
        await tx.emit(
            ContentRequested.create(
                ContentRequestedPayload.model_validate(
                    {
                        "content_id": failed.content_id,
                        "trend": trend,
                        "style": policy.style,
                        "format": str(meta.get("format", "vertical")),
                        "platforms": workflows.platforms(workflow),
                        "attempt": failed.attempt + 1,
                    },
                    strict=False,
                ),
                producer=AGENT,
                causation=event,
                event_id=derived_id("retry", event.event_id),
            ),
            key=failed.content_id,
        )
        await tx.audit(
            "retry-generate",
            cause=event,
            output_data={"content_id": failed.content_id, "attempt": failed.attempt + 1},
        )
        return
    await workflows.set_state(
        tx.conn,
        workflow["correlation_id"],
        "abandoned",
        f"generation failed at {failed.stage}: {failed.error.code}",
    )
    await tx.audit(
        "abandon",
        status="failure",
        cause=event,
        output_data={"content_id": failed.content_id, "error": failed.error.code},
    )
    await tx.alert(
        failed.error,
        subject=failed.content_id,
        cause=event,
        context={"stage": failed.stage, "attempt": failed.attempt},
    )


@emits(AuditRecorded)
async def on_published(event: Published, tx: Tx, policy: Policy) -> None:
    del policy
    await settle(tx, event, event.payload.content_id)


@emits(PublishRequested, AuditRecorded, OperatorAlert)
async def on_publish_failed(event: PublishFailed, tx: Tx, policy: Policy) -> None:
    failed = event.payload
    workflow = await workflows.for_content(tx.conn, failed.content_id)
    if workflow is None:
        return
    plan = publication.retry_plan(failed, policy.publish_retry)
    row = await publications.get(tx.conn, failed.publication_id)
    if plan.action != "give_up" and row is not None:
        await tx.emit(
            PublishRequested.create(
                PublishRequestedPayload.model_validate(
                    {
                        "publication_id": failed.publication_id,
                        "content_id": failed.content_id,
                        "platform": failed.platform,
                        "path": row["local_path"] or "",
                        "title": row["title"],
                        "description": row["description"] or "",
                        "tags": list(row["tags"] or []),
                        "scheduled_at": (
                            datetime.now(UTC) + timedelta(seconds=plan.delay)
                        ).isoformat(),
                        "attempt": failed.attempt + 1,
                        "account": row["account"],
                    },
                    strict=False,
                ),
                producer=AGENT,
                causation=event,
                event_id=derived_id("retry", event.event_id),
            ),
            key=failed.content_id,
        )
        await tx.audit(
            "retry-publish",
            cause=event,
            output_data={
                "publication_id": failed.publication_id,
                "attempt": failed.attempt + 1,
                "delay_s": round(plan.delay, 1),
            },
        )
        return
    await tx.alert(
        failed.error,
        subject=failed.publication_id,
        cause=event,
        context={"platform": failed.platform, "outcome_unknown": failed.outcome_unknown},
    )
    await settle(tx, event, failed.content_id)


@delegates_to(on_published, on_publish_failed)
async def on_publication_event(event: Published | PublishFailed, tx: Tx, policy: Policy) -> None:
    """Published or PublishFailed, to its handler."""
    if isinstance(event, Published):
        await on_published(event, tx, policy)
    else:
        await on_publish_failed(event, tx, policy)


@delegates_to(on_content_ready, on_content_failed)
async def on_content_event(event: ContentReady | ContentFailed, tx: Tx, policy: Policy) -> None:
    """ContentReady or ContentFailed, to its handler."""
    if isinstance(event, ContentReady):
        await on_content_ready(event, tx, policy)
    else:
        await on_content_failed(event, tx, policy)


async def settle(tx: Tx, event: Envelope[Any], content_id: str) -> None:
    """Close the workflow once every platform has a final outcome."""
    workflow = await workflows.for_content(tx.conn, content_id)
    if workflow is None or workflow["state"] != "publishing":
        return
    status = await publications.statuses_for_content(tx.conn, content_id)
    wanted = workflows.platforms(workflow)
    final = {"published", "failed", "unknown"}
    if not all(status.get(p) in final for p in wanted):
        return
    published = [p for p in wanted if status[p] == "published"]
    state = (
        "completed" if len(published) == len(wanted) else "partial" if published else "abandoned"
    )
    await workflows.set_state(tx.conn, workflow["correlation_id"], state)
    if published:
        await content.set_content_status(tx.conn, content_id, "published")
    await tx.audit(
        f"workflow:{state}",
        cause=event,
        output_data={"content_id": content_id, "publications": status},
    )
