"""The publish agent: records publish requests, publishes when due, tracks engagement.

A publish call is never blindly repeated. Each publication moves
`scheduled → publishing → published | failed | unknown`; the row is claimed (status
`publishing`) in a committed transaction together with a session advisory lock held for the
whole call. If the process dies mid-call the lock goes with its connection, and the
reconciler — seeing `publishing` with no lock holder — asks the platform
(`skill_find_publication`) instead of posting again. When the platform cannot say, the
publication is marked `unknown` and a person is alerted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.runtime import AgentRuntime, Tx
from chimera.errors import ErrorInfo
from events import EngagementMetrics, EngagementRecorded, Published, PublishFailed, PublishRequested
from events.catalog import EngagementRecordedPayload, PublishedPayload, PublishFailedPayload

AGENT = "publish"
log = logging.getLogger("chimera.publish")


class PublishAgentSettings(BaseSettings):
    """Configured with CHIMERA_PUBLISH_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_PUBLISH_", extra="ignore")

    privacy: str = Field(default="private", description="public | unlisted | private")
    poll_seconds: float = Field(default=1.0, gt=0)
    reconcile_seconds: float = Field(default=30.0, gt=0)
    engagement_seconds: float = Field(default=3600.0, ge=0, description="0 turns it off.")


def _lock_key(publication_id: str) -> int:
    return zlib.crc32(f"chimera-publication:{publication_id}".encode())


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, "chimera:" + ":".join(map(str, parts)))


async def on_publish_requested(event: PublishRequested, tx: Tx) -> None:
    """Record the request; the due-loop publishes it at `scheduled_at` (or now)."""
    p = event.payload
    row = await tx.conn.fetchrow(
        """INSERT INTO publications (id, content_id, platform, title, description, tags,
                                     scheduled_at, status, correlation_id, attempt)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9)
           ON CONFLICT (id) DO UPDATE SET status = 'scheduled',
               scheduled_at = EXCLUDED.scheduled_at, attempt = EXCLUDED.attempt
           WHERE publications.status = 'failed' AND publications.attempt < EXCLUDED.attempt
           RETURNING status""",
        p.publication_id, p.content_id, p.platform, p.title, p.description, p.tags,
        p.scheduled_at or datetime.now(UTC), event.correlation_id, p.attempt,
    )
    await tx.audit("publication:scheduled" if row else "publication:unchanged", cause=event,
                   input_data={"publication_id": p.publication_id, "platform": p.platform,
                               "attempt": p.attempt},
                   output_data={"scheduled_at": (p.scheduled_at or datetime.now(UTC)).isoformat()})


async def publish_due(rt: AgentRuntime, settings: PublishAgentSettings) -> bool:
    """Publish one due publication, if any. True when it handled one."""
    async with rt.pool.acquire() as conn:
        async with conn.transaction():
            row = await conn.fetchrow(
                """SELECT p.*, c.local_path FROM publications p
                   JOIN content c ON c.id = p.content_id
                   WHERE p.status = 'scheduled' AND p.scheduled_at <= now()
                   ORDER BY p.scheduled_at LIMIT 1 FOR UPDATE OF p SKIP LOCKED""")
            if row is None:
                return False
            # Session-level: survives this commit, held until the call's outcome is stored.
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(row["id"])):
                return False
            await conn.execute("UPDATE publications SET status = 'publishing' WHERE id = $1",
                               row["id"])
        try:
            output: Any = await rt.traced(row["correlation_id"]).skill_publish_content({
                "platform": row["platform"], "video_path": row["local_path"],
                "title": row["title"], "description": row["description"] or "",
                "tags": list(row["tags"] or []),
                # X has no private posts; elsewhere the configured privacy applies.
                "privacy": "public" if row["platform"] == "twitter" else settings.privacy,
                "publication_id": row["id"],
            })
            await _record_outcome(rt, row, output)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(row["id"]))
    return True


async def _record_outcome(rt: AgentRuntime, row: Any, output: Any) -> None:
    if not output.success and output.error.code == "OUTCOME_UNKNOWN":
        await reconcile(rt, row, output.error)
        return
    async with rt.transaction() as tx:
        if output.success:
            await _mark_published(tx, row, output.post_id, output.url or "",
                                  output.published_at)
        else:
            await _mark_failed(tx, row, output.error, status="failed")


async def reconcile(rt: AgentRuntime, row: Any, cause_error: ErrorInfo | None = None) -> str:
    """Ask the platform whether an in-doubt publication exists; never post it again blindly."""
    found: Any = await rt.skills.skill_find_publication({
        "platform": row["platform"], "publication_id": row["id"], "title": row["title"],
        "platform_ref": (cause_error.details.get("platform_ref") if cause_error else None),
    })
    async with rt.transaction() as tx:
        if found.success and found.found:
            await _mark_published(tx, row, found.post_id, found.url or "",
                                  found.published_at)
            return "published"
        if found.success and not found.found:
            # The platform certainly does not have it: publishing now is not a repeat.
            await tx.conn.execute(
                "UPDATE publications SET status = 'scheduled' WHERE id = $1", row["id"])
            await tx.audit("publication:rescheduled", cause=None,
                           input_data={"publication_id": row["id"]},
                           output_data={"reason": "not found on the platform"})
            return "scheduled"
        error = found.error or cause_error or ErrorInfo(code="OUTCOME_UNKNOWN",
                                                        message="outcome unknown")
        await _mark_failed(tx, row, error, status="unknown")
        return "unknown"


async def _mark_published(tx: Tx, row: Any, post_id: str | None, url: str,
                          published_at: datetime | None) -> None:
    """`post_id` is None while the platform still processes the post (TikTok inbox/processing):
    it is then published without a post id and engagement is not fetched for it."""
    when = published_at or datetime.now(UTC)
    await tx.conn.execute(
        """UPDATE publications SET status = 'published', post_id = $2, url = $3,
                                   published_at = $4, last_error = NULL WHERE id = $1""",
        row["id"], post_id, url, when)
    event = Published.create(
        PublishedPayload(publication_id=row["id"], content_id=row["content_id"],
                         platform=row["platform"], post_id=post_id or "", url=url,
                         published_at=when),
        producer=AGENT, correlation_id=row["correlation_id"],
        event_id=_id("published", row["id"], row["attempt"]))
    await tx.emit(event, key=row["content_id"])
    await tx.audit("publication:published", cause=event,
                   output_data={"publication_id": row["id"], "post_id": post_id, "url": url})


async def _mark_failed(tx: Tx, row: Any, error: ErrorInfo, *, status: str) -> None:
    await tx.conn.execute(
        "UPDATE publications SET status = $2, last_error = $3::jsonb WHERE id = $1",
        row["id"], status, error.model_dump_json())
    event = PublishFailed.create(
        PublishFailedPayload(publication_id=row["id"], content_id=row["content_id"],
                             platform=row["platform"], error=error, attempt=row["attempt"],
                             outcome_unknown=status == "unknown"),
        producer=AGENT, correlation_id=row["correlation_id"],
        event_id=_id("publish-failed", row["id"], row["attempt"], status))
    await tx.emit(event, key=row["content_id"])
    await tx.audit(f"publication:{status}", status="failure", cause=event,
                   output_data={"publication_id": row["id"], "error": error.code})
    if status == "unknown":
        await tx.alert(error, subject=row["id"], cause=event, severity="critical",
                       context={"platform": row["platform"],
                                "action": "check the platform by hand; Chimera will not re-post"})


async def reconcile_orphans(rt: AgentRuntime) -> int:
    """Publications left `publishing` by a dead process (no lock holder): reconcile them."""
    handled = 0
    rows = await rt.pool.fetch(
        """SELECT p.*, c.local_path FROM publications p JOIN content c ON c.id = p.content_id
           WHERE p.status = 'publishing'""")
    for row in rows:
        async with rt.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(row["id"])):
                continue  # a live worker is publishing it right now
            try:
                still = await conn.fetchval("SELECT status FROM publications WHERE id = $1",
                                            row["id"])
                if still == "publishing":
                    outcome = await reconcile(rt, row)
                    log.warning("publication %s was in flight when its worker died: %s",
                                row["id"], outcome)
                    handled += 1
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(row["id"]))
    return handled


async def record_engagement(rt: AgentRuntime) -> int:
    """Fetch engagement for every published item once; store it and emit events."""
    rows = await rt.pool.fetch(
        "SELECT * FROM publications WHERE status = 'published' AND post_id <> ''")
    recorded = 0
    for row in rows:
        output: Any = await rt.skills.skill_fetch_engagement(
            {"platform": row["platform"], "post_id": row["post_id"]})
        if not output.success:
            continue
        metrics = EngagementMetrics.of(output.views, output.likes, output.comments,
                                       output.shares)
        now = datetime.now(UTC)
        engagement_id = str(_id("engagement", row["id"], now.isoformat()))
        async with rt.transaction() as tx:
            await tx.conn.execute(
                """INSERT INTO engagement (id, publication_id, content_id, views, likes,
                                           comments, shares, engagement_rate, recorded_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                engagement_id, row["id"], row["content_id"], metrics.views, metrics.likes,
                metrics.comments, metrics.shares, metrics.engagement_rate, now)
            event = EngagementRecorded.create(
                EngagementRecordedPayload(
                    engagement_id=engagement_id, publication_id=row["id"],
                    content_id=row["content_id"], platform=row["platform"], metrics=metrics,
                    recorded_at=now),
                producer=AGENT, correlation_id=row["correlation_id"] or uuid.uuid4())
            await tx.emit(event, key=row["content_id"])
            await tx.audit("engagement:recorded", cause=event,
                           output_data=json.loads(metrics.model_dump_json()))
        recorded += 1
    return recorded


def loops(settings: PublishAgentSettings):  # type: ignore[no-untyped-def]
    async def publish_loop(rt: AgentRuntime) -> None:
        await reconcile_orphans(rt)  # first: whatever a crashed predecessor left in flight
        last_reconcile = asyncio.get_running_loop().time()
        while True:
            try:
                while await publish_due(rt, settings):
                    pass
                now = asyncio.get_running_loop().time()
                if now - last_reconcile >= settings.reconcile_seconds:
                    await reconcile_orphans(rt)
                    last_reconcile = now
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("publish loop failed; continuing")
            await asyncio.sleep(settings.poll_seconds)

    async def engagement_loop(rt: AgentRuntime) -> None:
        if settings.engagement_seconds <= 0:
            return
        while True:
            await asyncio.sleep(settings.engagement_seconds)
            try:
                await record_engagement(rt)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("engagement fetch failed; continuing")

    return [publish_loop, engagement_loop]

