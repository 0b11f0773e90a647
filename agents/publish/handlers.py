"""The publish agent: records publish requests, publishes when due, tracks engagement.

Every rule of publish idempotency (when a publication may be attempted, what an unknown
outcome leads to) is in `agents.publication`; this module runs them: the request handler,
the due-loop that claims and publishes, the reconciler of orphans, the engagement loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import asyncpg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents import publication
from agents.accounts import PgAccessTokens, verify_keyring
from agents.repositories import accounts, publications
from agents.runtime import AgentRuntime, Loop, Tx, emits
from agents.runtime.agent import TokensFactory
from core.crypto import keyring_for
from core.errors import ErrorInfo, OperationError
from core.ids import derived_id
from core.settings import Settings
from events import (
    AuditRecorded,
    EngagementMetrics,
    EngagementRecorded,
    OperatorAlert,
    Published,
    PublishFailed,
    PublishRequested,
)
from events.catalog import EngagementRecordedPayload, PublishedPayload, PublishFailedPayload
from skills.accounts.oauth import ReauthRequired
from skills.accounts.tokens import AccessTokens
from skills.publish.models import (
    FetchEngagementInput,
    FindPublicationInput,
    FindPublicationOutput,
    Platform,
    Privacy,
    PublishContentInput,
    PublishContentOutput,
)
from skills.publish.skill import fetch_engagement, find_publication, publish_content

AGENT = "publish"
REAUTH = ReauthRequired.default_code
log = logging.getLogger("chimera.publish")


class PublishAgentSettings(BaseSettings):
    """Configured with CHIMERA_PUBLISH_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_PUBLISH_", extra="ignore")

    # Disclosure policy: what every publication declares to the platforms.
    ai_generated: bool = Field(
        default=True,
        description="Declare videos AI-generated (YouTube containsSyntheticMedia, TikTok "
        "is_aigc). Chimera's videos are; turn it off only for footage a person made.",
    )
    made_for_kids: bool = Field(
        default=False, description="Declare videos made for children (YouTube)."
    )

    privacy: Privacy = Field(default="private", description="public | unlisted | private")
    poll_seconds: float = Field(default=1.0, gt=0)
    reconcile_seconds: float = Field(default=30.0, gt=0)
    engagement_seconds: float = Field(default=3600.0, ge=0, description="0 turns it off.")


@emits(AuditRecorded)
async def on_publish_requested(event: PublishRequested, tx: Tx) -> None:
    """Record the request; the due-loop publishes it at `scheduled_at` (or now)."""
    p = event.payload
    when = p.scheduled_at or datetime.now(UTC)
    scheduled = await publications.schedule(
        tx.conn,
        publication_id=p.publication_id,
        content_id=p.content_id,
        platform=p.platform,
        title=p.title,
        description=p.description,
        tags=p.tags,
        scheduled_at=when,
        correlation_id=event.correlation_id,
        attempt=p.attempt,
        account=p.account,
    )
    await tx.audit(
        "publication:scheduled" if scheduled else "publication:unchanged",
        cause=event,
        input_data={
            "publication_id": p.publication_id,
            "platform": p.platform,
            "attempt": p.attempt,
        },
        output_data={"scheduled_at": when.isoformat()},
    )


async def publish_due(rt: AgentRuntime, settings: PublishAgentSettings) -> bool:
    """Publish one due publication, if any. True when it handled one."""
    async with publication.claim_due(rt.pool) as row:
        if row is None:
            return False
        platform = cast(Platform, row["platform"])
        output = await rt.skills.traced(row["correlation_id"])(
            publish_content,
            PublishContentInput(
                platform=platform,
                video_path=row["local_path"],
                title=row["title"],
                description=row["description"] or "",
                tags=list(row["tags"] or []),
                # X has no private posts; elsewhere the configured privacy applies.
                privacy="public" if platform == "twitter" else settings.privacy,
                publication_id=row["id"],
                account=row["account"],
                ai_generated=settings.ai_generated,
                made_for_kids=settings.made_for_kids,
            ),
        )
        if not output.success and output.error and output.error.code == "AUTH_INVALID":
            output = await _token_refused(rt, row, output)
        if not output.success and output.error and output.error.code == REAUTH:
            await pause(rt, row, output.error)
            return True
        await _record_outcome(rt, row, output)
    return True


def tokens_factory(settings: Settings) -> TokensFactory:
    """The publish agent's access tokens: connected accounts, sealed under the master key
    (checked at start: a missing or wrong key is one line, never a plaintext fallback)."""

    async def open_tokens(pool: asyncpg.Pool) -> AccessTokens:
        keyring = keyring_for(settings)
        await verify_keyring(pool, keyring)
        return PgAccessTokens(pool, keyring)

    return open_tokens


async def _token_refused(
    rt: AgentRuntime, row: asyncpg.Record, output: PublishContentOutput
) -> PublishContentOutput:
    """The platform refused a token that should be live (revoked?): refresh it now. A refused
    refresh turns the failure into ACCOUNT_NEEDS_REAUTH (the publication pauses)."""
    tokens = rt.skills.ctx.tokens
    if tokens is None:
        return output
    try:
        await tokens.rejected(row["platform"], row["account"])
    except ReauthRequired as exc:
        return output.model_copy(update={"error": exc.info})
    except OperationError:
        return output
    return output


async def pause(rt: AgentRuntime, row: asyncpg.Record, error: ErrorInfo) -> None:
    """The account must be reconnected: its pending publications wait (`paused`, not failed)
    and a person is told once per account."""
    async with rt.transaction() as tx:
        await publications.set_status(tx.conn, row["id"], "paused")
        others = await accounts.pause_pending(tx.conn, row["platform"], row["account"])
        await tx.audit(
            "publication:paused",
            status="failure",
            cause=None,
            input_data={"publication_id": row["id"], "account": row["account"]},
            output_data={"error": error.code, "also_paused": others},
        )
        await tx.alert(
            error,
            subject=f"account:{row['platform']}:{row['account'] or 'default'}",
            cause=None,
            severity="critical",
            context={
                "platform": row["platform"],
                "account": row["account"],
                "action": f"reconnect: chimera accounts connect {row['platform']}"
                + (f" --name {row['account']}" if row["account"] else ""),
            },
        )


async def _record_outcome(
    rt: AgentRuntime, row: asyncpg.Record, output: PublishContentOutput
) -> None:
    if not output.success and publication.outcome_is_unknown(output.error):
        await reconcile(rt, row, output.error)
        return
    async with rt.transaction() as tx:
        if output.success:
            await _mark_published(tx, row, output.post_id, output.url or "", output.published_at)
        else:
            await _mark_failed(
                tx,
                row,
                output.error
                or ErrorInfo(
                    code="PUBLISH_FAILED", message="the publisher failed without saying why"
                ),
                status="failed",
            )


async def reconcile(
    rt: AgentRuntime, row: asyncpg.Record, cause_error: ErrorInfo | None = None
) -> publication.Reconciled:
    """Ask the platform whether an in-doubt publication exists; never post it again blindly."""
    ref = cause_error.details.get("platform_ref") if cause_error else None
    found: FindPublicationOutput = await rt.skills(
        find_publication,
        FindPublicationInput(
            platform=cast(Platform, row["platform"]),
            publication_id=row["id"],
            title=row["title"],
            account=row["account"],
            platform_ref=ref if isinstance(ref, str) else None,
        ),
    )
    outcome = publication.reconciled(found)
    async with rt.transaction() as tx:
        if outcome == "published":
            await _mark_published(tx, row, found.post_id, found.url or "", found.published_at)
        elif outcome == "scheduled":
            await publications.set_status(tx.conn, row["id"], "scheduled")
            await tx.audit(
                "publication:rescheduled",
                cause=None,
                input_data={"publication_id": row["id"]},
                output_data={"reason": "not found on the platform"},
            )
        else:
            error = (
                found.error
                or cause_error
                or ErrorInfo(code=publication.OUTCOME_UNKNOWN, message="outcome unknown")
            )
            await _mark_failed(tx, row, error, status="unknown")
    return outcome


async def _mark_published(
    tx: Tx, row: asyncpg.Record, post_id: str | None, url: str, published_at: datetime | None
) -> None:
    """`post_id` is None while the platform still processes the post (TikTok inbox/processing):
    it is then published without a post id and engagement is not fetched for it."""
    when = published_at or datetime.now(UTC)
    await publications.mark_published(tx.conn, row["id"], post_id, url, when)
    event = Published.create(
        PublishedPayload(
            publication_id=row["id"],
            content_id=row["content_id"],
            platform=row["platform"],
            post_id=post_id or "",
            url=url,
            published_at=when,
        ),
        producer=AGENT,
        correlation_id=row["correlation_id"],
        event_id=derived_id("published", row["id"], row["attempt"]),
    )
    await tx.emit(event, key=row["content_id"])
    await tx.audit(
        "publication:published",
        cause=event,
        output_data={"publication_id": row["id"], "post_id": post_id, "url": url},
    )


async def _mark_failed(tx: Tx, row: asyncpg.Record, error: ErrorInfo, *, status: str) -> None:
    await publications.mark_failed(tx.conn, row["id"], status, error)
    event = PublishFailed.create(
        PublishFailedPayload(
            publication_id=row["id"],
            content_id=row["content_id"],
            platform=row["platform"],
            error=error,
            attempt=row["attempt"],
            outcome_unknown=status == "unknown",
        ),
        producer=AGENT,
        correlation_id=row["correlation_id"],
        event_id=derived_id("publish-failed", row["id"], row["attempt"], status),
    )
    await tx.emit(event, key=row["content_id"])
    await tx.audit(
        f"publication:{status}",
        status="failure",
        cause=event,
        output_data={"publication_id": row["id"], "error": error.code},
    )
    if status == "unknown":
        await tx.alert(
            error,
            subject=row["id"],
            cause=event,
            severity="critical",
            context={
                "platform": row["platform"],
                "action": "check the platform by hand; Chimera will not re-post",
            },
        )


async def reconcile_orphans(rt: AgentRuntime) -> int:
    """Publications left `publishing` by a dead process: reconcile them."""
    handled = 0
    async for row in publication.orphans(rt.pool):
        outcome = await reconcile(rt, row)
        log.warning("publication %s was in flight when its worker died: %s", row["id"], outcome)
        handled += 1
    return handled


async def record_engagement(rt: AgentRuntime) -> int:
    """Fetch engagement for every published item once; store it and emit events."""
    recorded = 0
    for row in await publications.published_with_posts(rt.pool):
        output = await rt.skills(
            fetch_engagement,
            FetchEngagementInput(
                platform=cast(Platform, row["platform"]),
                post_id=row["post_id"],
                account=row["account"],
            ),
        )
        if not output.success:
            continue
        metrics = EngagementMetrics.of(output.views, output.likes, output.comments, output.shares)
        now = datetime.now(UTC)
        engagement_id = str(derived_id("engagement", row["id"], now.isoformat()))
        async with rt.transaction() as tx:
            await publications.insert_engagement(
                tx.conn,
                engagement_id=engagement_id,
                publication_id=row["id"],
                content_id=row["content_id"],
                metrics=metrics,
                recorded_at=now,
            )
            event = EngagementRecorded.create(
                EngagementRecordedPayload(
                    engagement_id=engagement_id,
                    publication_id=row["id"],
                    content_id=row["content_id"],
                    platform=row["platform"],
                    metrics=metrics,
                    recorded_at=now,
                ),
                producer=AGENT,
                correlation_id=row["correlation_id"]
                or derived_id("engagement-workflow", row["id"]),
            )
            await tx.emit(event, key=row["content_id"])
            await tx.audit(
                "engagement:recorded",
                cause=event,
                output_data=json.loads(metrics.model_dump_json()),
            )
        recorded += 1
    return recorded


def loops(settings: PublishAgentSettings) -> Sequence[Loop]:
    @emits(Published, PublishFailed, AuditRecorded, OperatorAlert)
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

    @emits(EngagementRecorded, AuditRecorded)
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

    return [Loop.of(publish_loop), Loop.of(engagement_loop)]
