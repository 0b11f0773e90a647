"""The publish idempotency rules (agents/publication.py) on the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from agents import publication
from agents.repositories import publications
from core.errors import ErrorInfo
from core.retry import RetryPolicy
from events.catalog import PublishFailedPayload
from skills.publish.models import FindPublicationOutput


async def _seed(pool: asyncpg.Pool, pid: str = "p-1", *, due: bool = True) -> None:
    await pool.execute(
        """INSERT INTO trends (id, platform, topic, title, engagement_metrics, velocity,
                               fetched_at, url) VALUES ('t', 'feed', 't', 't', '{}', 0, now(), 'u')
           ON CONFLICT DO NOTHING"""
    )
    await pool.execute(
        """INSERT INTO content (id, type, status, trend_id, local_path)
           VALUES ('c-1', 'video', 'ready', 't', '/v.mp4') ON CONFLICT DO NOTHING"""
    )
    when = datetime.now(UTC) + (timedelta(0) if due else timedelta(hours=1))
    async with pool.acquire() as conn:
        await publications.schedule(
            conn,
            publication_id=pid,
            content_id="c-1",
            platform="local",
            title="T",
            description="",
            tags=[],
            scheduled_at=when,
            correlation_id=uuid.uuid4(),
            attempt=1,
        )


async def test_only_one_claimer_gets_a_due_publication(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    async with publication.claim_due(pool) as first:
        assert first is not None and first["id"] == "p-1"
        assert await publications.status(pool, "p-1") == "publishing"
        async with publication.claim_due(pool) as second:
            assert second is None  # nothing else is due, and p-1 is taken
        # While the claimer lives, the publication is not an orphan.
        assert [row async for row in publication.orphans(pool)] == []
    # The claimer is gone and it is still `publishing`: an orphan to reconcile.
    assert [row["id"] async for row in publication.orphans(pool)] == ["p-1"]


async def test_a_publication_not_due_is_not_claimed(pool: asyncpg.Pool) -> None:
    await _seed(pool, due=False)
    async with publication.claim_due(pool) as row:
        assert row is None


async def test_a_replayed_request_changes_nothing_and_only_a_later_attempt_reschedules(
    pool: asyncpg.Pool,
) -> None:
    await _seed(pool)
    async with pool.acquire() as conn:
        again = await publications.schedule(
            conn,
            publication_id="p-1",
            content_id="c-1",
            platform="local",
            title="T",
            description="",
            tags=[],
            scheduled_at=datetime.now(UTC),
            correlation_id=uuid.uuid4(),
            attempt=1,
        )
        assert again is False
        await publications.mark_failed(conn, "p-1", "failed", ErrorInfo(code="X", message="x"))
        retried = await publications.schedule(
            conn,
            publication_id="p-1",
            content_id="c-1",
            platform="local",
            title="T",
            description="",
            tags=[],
            scheduled_at=datetime.now(UTC),
            correlation_id=uuid.uuid4(),
            attempt=2,
        )
    assert retried is True and await publications.status(pool, "p-1") == "scheduled"


def _failed(*, retryable: bool, unknown: bool = False, attempt: int = 1) -> PublishFailedPayload:
    return PublishFailedPayload(
        publication_id="p",
        content_id="c",
        platform="youtube",
        attempt=attempt,
        outcome_unknown=unknown,
        error=ErrorInfo(
            code="E", message="e", retryable=retryable, details={"retry_after_s": 90.0}
        ),
    )


def test_the_retry_rule_of_failed_publications() -> None:
    policy = RetryPolicy(max_retries=2, base_delay=30.0, max_delay=3600.0, jitter=0.0)
    plan = publication.retry_plan(_failed(retryable=True), policy)
    assert plan.action == "wait" and plan.delay == 90.0  # the platform's Retry-After wins
    assert publication.retry_plan(_failed(retryable=False), policy).action == "give_up"
    assert (
        publication.retry_plan(_failed(retryable=True, unknown=True), policy).action == "give_up"
    )  # an unknown outcome is never retried
    assert publication.retry_plan(_failed(retryable=True, attempt=3), policy).action == "give_up"


def test_what_reconciliation_makes_of_the_platforms_answer() -> None:
    found = FindPublicationOutput(success=True, found=True, post_id="x")
    assert publication.reconciled(found) == "published"
    assert publication.reconciled(FindPublicationOutput(success=True, found=False)) == "scheduled"
    failed = FindPublicationOutput(success=False, error=ErrorInfo(code="E", message="e"))
    assert publication.reconciled(failed) == "unknown"
    assert publication.outcome_is_unknown(ErrorInfo(code=publication.OUTCOME_UNKNOWN, message="?"))
