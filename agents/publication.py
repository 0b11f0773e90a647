"""Publish idempotency: when may a publication be attempted, and what if its outcome is unknown?

Every rule is here; the publish agent and the orchestrator only call these functions.

A publication is one piece of content on one platform (`publications`, id derived from the
content and the platform). Its states:

    scheduled ──claim──▶ publishing ──▶ published
        ▲                    │    ├──▶ failed ──(orchestrator retries)──▶ scheduled
        └──── not found ─────┤    └──▶ unknown (a person checks; never re-posted)
                 (reconcile) ┘

1. Requests (`PublishRequested`) are recorded `scheduled`. Replaying a request changes nothing;
   only a later attempt of a `failed` publication schedules it again (`record_request`).
2. A publication is attempted only when `scheduled` and due, by the one process that claims it
   (`claim_due`): the row is taken with FOR UPDATE SKIP LOCKED, a session advisory lock on the
   publication is taken and held for the whole platform call, and `publishing` is committed
   before the call starts.
3. `publishing` with nobody holding its lock means the process died mid-call: the post may or
   may not exist. It is never attempted again blindly; it is reconciled (`orphans`).
4. The skill tells a known outcome (posted, or refused) from an unknown one: a request that may
   have created the post and whose answer was lost fails with OUTCOME_UNKNOWN
   (`skills.publish.errors.OutcomeUnknownError`), a permanent error, so the skill's retries
   never repeat it.
5. Reconciling asks the platform (`skill_find_publication`): found → `published`; certainly
   absent → `scheduled` again (publishing now is not a repeat); cannot say → `unknown`, with a
   critical OperatorAlert. Chimera never re-posts an `unknown` publication.
6. The orchestrator retries a `failed` publication (a new request, attempt + 1, delayed by its
   `RetryPolicy`) only when the error is retryable, the outcome is known, and attempts remain
   (`retry_plan`).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import asyncpg

from agents.repositories import publications
from core.errors import ErrorInfo
from core.retry import RetryPlan, RetryPolicy
from events.catalog import PublishFailedPayload
from skills.publish.errors import OutcomeUnknownError
from skills.publish.models import FindPublicationOutput

OUTCOME_UNKNOWN = OutcomeUnknownError.default_code
Reconciled = Literal["published", "scheduled", "unknown"]


def lock_key(publication_id: str) -> int:
    """The advisory lock held by the process publishing `publication_id` (rule 2)."""
    return zlib.crc32(f"chimera-publication:{publication_id}".encode())


@asynccontextmanager
async def claim_due(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Record | None]:
    """Claim the next due publication (rule 2): yields its row, `publishing` committed and its
    lock held until the block ends; yields None when nothing is due (or another process got
    it first)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await publications.next_due(conn)
            if row is None or not await conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", lock_key(row["id"])
            ):
                row = None
            else:
                await publications.set_status(conn, row["id"], "publishing")
        if row is None:
            yield None
            return
        try:
            yield row
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(row["id"]))


async def orphans(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Record]:
    """Publications left `publishing` by a dead process (rule 3), each yielded while this
    process holds its lock (a live worker's publication is skipped)."""
    for row in await publications.in_flight(pool):
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(row["id"])):
                continue  # a live worker is publishing it right now
            try:
                if await publications.status(conn, row["id"]) == "publishing":
                    yield row
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(row["id"]))


def outcome_is_unknown(error: ErrorInfo | None) -> bool:
    """Whether a failed publish call may have created the post (rule 4)."""
    return error is not None and error.code == OUTCOME_UNKNOWN


def reconciled(found: FindPublicationOutput) -> Reconciled:
    """What the platform's answer to "do you have it?" makes of the publication (rule 5)."""
    if found.success and found.found:
        return "published"
    if found.success:
        return "scheduled"
    return "unknown"


def retry_plan(failed: PublishFailedPayload, policy: RetryPolicy) -> RetryPlan:
    """Whether and when the orchestrator retries a failed publication (rule 6)."""
    if failed.outcome_unknown:
        return RetryPlan("give_up")
    retry_after = failed.error.details.get("retry_after_s")
    return policy.plan(
        failed.attempt,
        retryable=failed.error.retryable,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
    )
