"""The approval gate's decisions: ApproveContent / RejectContent from people, and the expiry.

A review (`agents.repositories.reviews`) takes exactly one decision. The command is handled in
the orchestrator's transaction with its inbox row, so a redelivered or replayed command is
dropped; a different command on a decided review is refused, recorded in `review_refusals`
and audited, and changes nothing. The expiry decides pending reviews past their time with a
command of its own whose event id is derived from the content id, through the same path, so
it happens once even with several replicas (rows are taken FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from agents.orchestrator.handlers import AGENT, Release, request_publications, settle
from agents.orchestrator.policy import Policy
from agents.repositories import content, reviews, workflows
from agents.runtime import AgentRuntime, Loop, Tx, emits
from core.ids import derived_id
from events import ApproveContent, AuditRecorded, PublishRequested, RejectContent
from events.catalog import ApproveContentPayload, ContentEdits, RejectContentPayload

log = logging.getLogger("chimera.orchestrator.review")
EXPIRY_ACTOR = "expiry"
EXPIRY_CONSUMER = "orchestrator.expiry"
Decision = ApproveContent | RejectContent


def _refusal(review: reviews.Review | None, event: Decision) -> str | None:
    """Why `event` cannot be applied to `review`, or None when it can."""
    content_id = event.payload.content_id
    if review is None:
        return f"content {content_id} is not waiting for approval (the gate never held it)"
    if review.status != "pending":
        when = f"{review.decided_at:%Y-%m-%d %H:%M:%S} UTC" if review.decided_at else "earlier"
        how = "by the expiry" if review.expired else f"by {review.decided_by}"
        return (
            f"content {content_id} was already {review.status} {how} at {when}; "
            "a second decision is never applied"
        )
    if isinstance(event, ApproveContent) and event.payload.edits.platforms:
        extra = sorted(set(event.payload.edits.platforms) - set(review.platforms))
        if extra:
            return (
                f"platform(s) {', '.join(extra)} were not planned for content {content_id} "
                f"(held for: {', '.join(review.platforms)})"
            )
    return None


@emits(PublishRequested, AuditRecorded)
async def on_review_command(
    event: Decision, tx: Tx, policy: Policy, *, expired: bool = False
) -> None:
    """Apply a person's (or the expiry's) decision once; refuse any other."""
    p = event.payload
    decision = "approve" if isinstance(event, ApproveContent) else "reject"
    who = {"content_id": p.content_id, "actor": p.actor, "decision": decision}
    workflow = await workflows.for_content(tx.conn, p.content_id)
    review = await reviews.lock(tx.conn, p.content_id)
    refusal = _refusal(review, event)
    if refusal is not None or review is None or workflow is None:
        reason = refusal or f"content {p.content_id} has no workflow"
        await reviews.refuse(
            tx.conn,
            event_id=event.event_id,
            content_id=p.content_id,
            decision=decision,
            actor=p.actor,
            reason=reason,
        )
        await tx.audit(
            "review:refused", status="failure", cause=event, input_data=who, output_data=reason
        )
        return
    auto = [x for x in workflows.platforms(workflow) if x not in review.platforms]
    if isinstance(event, ApproveContent):
        await _approve(tx, event, policy, review, auto, expired)
    else:
        await _reject(tx, event, review, auto, expired)


async def _approve(
    tx: Tx,
    event: ApproveContent,
    policy: Policy,
    review: reviews.Review,
    auto: list[str],
    expired: bool,
) -> None:
    p = event.payload
    edits = p.edits
    platforms = list(edits.platforms or review.platforms)
    release = Release(
        content_id=p.content_id,
        correlation_id=review.correlation_id,
        path=review.path,
        title=edits.title if edits.title is not None else review.title,
        description=edits.description if edits.description is not None else review.description,
        tags=list(edits.tags) if edits.tags is not None else review.tags,
        scheduled_at=edits.scheduled_at
        or datetime.now(UTC) + timedelta(seconds=policy.publish_delay_seconds),
    )
    changed = edits.model_dump(mode="json", exclude_none=True)
    await reviews.decide(
        tx.conn,
        p.content_id,
        status="approved",
        actor=p.actor,
        decided_at=p.decided_at,
        reason=p.reason,
        edits=changed,
        expired=expired,
        event_id=event.event_id,
    )
    await content.set_content_status(tx.conn, p.content_id, "approved")
    await workflows.set_platforms(tx.conn, review.correlation_id, [*auto, *platforms])
    await workflows.set_state(tx.conn, review.correlation_id, "publishing")
    await request_publications(tx, event, release, platforms, policy.accounts)
    await tx.audit(
        "review:expired" if expired else "review:approved",
        cause=event,
        input_data={"content_id": p.content_id, "actor": p.actor, "reason": p.reason},
        output_data={
            "decision": "approved",
            "edits": changed,
            "platforms": platforms,
            "title": release.title,
            "scheduled_at": release.scheduled_at.isoformat(),
        },
    )
    await settle(tx, event, p.content_id)


async def _reject(
    tx: Tx, event: RejectContent, review: reviews.Review, auto: list[str], expired: bool
) -> None:
    p = event.payload
    await reviews.decide(
        tx.conn,
        p.content_id,
        status="rejected",
        actor=p.actor,
        decided_at=p.decided_at,
        reason=p.reason,
        edits={},
        expired=expired,
        event_id=event.event_id,
    )
    await content.set_content_status(tx.conn, p.content_id, "rejected")
    await workflows.set_platforms(tx.conn, review.correlation_id, auto)
    if auto:  # the platforms without a gate keep their publications
        await workflows.set_state(tx.conn, review.correlation_id, "publishing")
    else:
        await workflows.set_state(
            tx.conn, review.correlation_id, "declined", f"rejected by {p.actor}: {p.reason}"
        )
    await tx.audit(
        "review:expired" if expired else "review:rejected",
        cause=event,
        input_data={"content_id": p.content_id, "actor": p.actor, "reason": p.reason},
        output_data={"decision": "rejected", "platforms": review.platforms},
    )
    await settle(tx, event, p.content_id)


def expiry_command(review: reviews.Review, policy: Policy, now: datetime) -> Decision:
    """The decision the expiry takes on `review`: one event id per content, ever."""
    reason = f"not decided within {policy.approval_expiry_seconds:g}s"
    event_id = derived_id("review-expiry", review.content_id)
    if policy.approval_expiry_action == "approve":
        return ApproveContent.create(
            ApproveContentPayload(
                content_id=review.content_id,
                actor=EXPIRY_ACTOR,
                decided_at=now,
                reason=reason,
                edits=ContentEdits(),
            ),
            producer=AGENT,
            correlation_id=review.correlation_id,
            event_id=event_id,
        )
    return RejectContent.create(
        RejectContentPayload(
            content_id=review.content_id, actor=EXPIRY_ACTOR, decided_at=now, reason=reason
        ),
        producer=AGENT,
        correlation_id=review.correlation_id,
        event_id=event_id,
    )


async def expire_due(rt: AgentRuntime, policy: Policy) -> int:
    """Decide every pending review past its expiry; returns how many were decided."""
    decided = 0
    for content_id in await reviews.expired_pending(rt.pool):
        async with rt.transaction() as tx:
            # Locks in the order every handler takes them: the workflow, then the review.
            await workflows.for_content(tx.conn, content_id)
            review = await reviews.lock(tx.conn, content_id)
            now = datetime.now(UTC)
            if review is None or review.status != "pending" or not review.is_expired(now):
                continue  # decided meanwhile, by a person or another replica
            command = expiry_command(review, policy, now)
            if await tx.claim(EXPIRY_CONSUMER, command):
                await on_review_command(command, tx, policy, expired=True)
                decided += 1
    return decided


def expiry_loop(policy: Policy) -> Loop:
    """The background loop that runs `expire_due` every `approval_check_seconds`."""

    @emits(PublishRequested, AuditRecorded)
    async def review_expiry(rt: AgentRuntime) -> None:
        while True:
            try:
                decided = await expire_due(rt, policy)
                if decided:
                    log.info("expiry decided %d review(s)", decided)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("review expiry failed; trying again next round")
            await asyncio.sleep(policy.approval_check_seconds)

    return Loop.of(review_expiry)
