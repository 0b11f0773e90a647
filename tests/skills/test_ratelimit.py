"""PgRateLimiter on a real PostgreSQL: order, sharing between processes, holds, refusal."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from core.errors import TransientError
from skills.ratelimit import (
    X_POSTS,
    X_TRENDS,
    YOUTUBE_QUOTA,
    Limit,
    PgRateLimiter,
    bucket_name,
    youtube_quota,
)

FIVE_PER_SECOND = Limit(calls=5, per_seconds=1.0)
SLACK = 0.05  # event-loop wake-up jitter


async def _timed_acquires(
    limiter: PgRateLimiter, bucket: str, limit: Limit, n: int, started: float, stagger: float = 0.02
) -> list[tuple[int, float]]:
    done: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await limiter.acquire(bucket, limit)
        done.append((i, time.monotonic() - started))

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(stagger)  # reservation order = creation order
    await asyncio.gather(*tasks)
    return done


async def test_waiters_over_the_limit_are_served_in_order_and_none_is_dropped(
    pool: asyncpg.Pool,
) -> None:
    limiter = PgRateLimiter(pool)
    started = time.monotonic()
    done = await _timed_acquires(limiter, "test:order", FIVE_PER_SECOND, 8, started)

    order = [i for i, _ in done]
    # The burst's five pass together (their finishing order is the event loop's); the paced
    # ones are served in the order they reserved.
    assert sorted(order[:5]) == [0, 1, 2, 3, 4] and order[5:] == [5, 6, 7]
    times = [t for _, t in done]
    # The burst of 5 passes at once (within the stagger and a few round trips, far from the
    # 0.8 s it would take if they were paced); then one every 0.2 s.
    assert times[4] < 0.5
    for k in (5, 6, 7):
        assert times[k] >= (k - 4) * 0.2 - SLACK, times
    assert times[7] < 0.8 + 0.5  # not absurdly late either


async def test_two_pools_share_one_bucket(pool: asyncpg.Pool, database_url: str) -> None:
    other = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert other is not None
    try:
        first, second = PgRateLimiter(pool), PgRateLimiter(other)
        started = time.monotonic()
        a, b = await asyncio.gather(
            _timed_acquires(first, "test:shared", FIVE_PER_SECOND, 5, started, stagger=0.01),
            _timed_acquires(second, "test:shared", FIVE_PER_SECOND, 5, started, stagger=0.01),
        )
    finally:
        await other.close()
    times = sorted(t for _, t in a + b)
    assert len(times) == 10
    # Ten calls under 5/s with a burst of 5: the k-th (0-based) is not before (k-4)*0.2 s.
    for k in range(5, 10):
        assert times[k] >= (k - 4) * 0.2 - SLACK, times
    assert times[-1] >= 1.0 - SLACK


async def test_hold_blocks_new_callers_and_paces_after_it(pool: asyncpg.Pool) -> None:
    limiter = PgRateLimiter(pool)
    await limiter.acquire("test:hold", FIVE_PER_SECOND)  # the bucket knows its limit now
    await limiter.hold("test:hold", 0.5)
    started = time.monotonic()
    done = await _timed_acquires(limiter, "test:hold", FIVE_PER_SECOND, 3, started, stagger=0.0)
    times = [t for _, t in done]
    assert times[0] >= 0.5 - SLACK
    # After a hold the window is spent: calls are paced, not bursting.
    assert times[1] >= 0.7 - SLACK and times[2] >= 0.9 - SLACK, times


async def test_hold_applies_to_a_caller_already_waiting(pool: asyncpg.Pool) -> None:
    limiter = PgRateLimiter(pool)
    slow = Limit(calls=1, per_seconds=0.2)
    await limiter.acquire("test:hold2", slow)
    started = time.monotonic()
    waiter = asyncio.create_task(limiter.acquire("test:hold2", slow))  # slot at ~0.2 s
    await asyncio.sleep(0.05)
    await limiter.hold("test:hold2", 0.6)
    await waiter
    assert time.monotonic() - started >= 0.65 - SLACK


async def test_hold_on_an_unknown_bucket_and_never_shortened(pool: asyncpg.Pool) -> None:
    limiter = PgRateLimiter(pool)
    await limiter.hold("test:fresh", 0.4)
    await limiter.hold("test:fresh", 0.1)  # a shorter hold does not cut the first one
    started = time.monotonic()
    await limiter.acquire("test:fresh", FIVE_PER_SECOND)
    assert time.monotonic() - started >= 0.4 - SLACK - 0.05


async def test_max_wait_refuses_without_reserving(pool: asyncpg.Pool) -> None:
    limiter = PgRateLimiter(pool, max_wait=0.5)
    slow = Limit(calls=1, per_seconds=10)
    await limiter.acquire("test:refuse", slow)
    with pytest.raises(TransientError) as first:
        await limiter.acquire("test:refuse", slow)
    with pytest.raises(TransientError) as second:
        await limiter.acquire("test:refuse", slow)
    assert first.value.code == "RATE_LIMITED"
    assert first.value.retry_after is not None and second.value.retry_after is not None
    assert 9 < first.value.retry_after <= 10
    # The refused call reserved nothing: the next one is not pushed 10 s further.
    assert second.value.retry_after <= first.value.retry_after
    # Within max_wait a caller still waits for its slot.
    quick = Limit(calls=1, per_seconds=0.3)
    started = time.monotonic()
    await limiter.acquire("test:refuse-quick", quick)
    await limiter.acquire("test:refuse-quick", quick)
    assert time.monotonic() - started >= 0.3 - SLACK


async def test_cost_counts_several_calls_and_is_checked(pool: asyncpg.Pool) -> None:
    limiter = PgRateLimiter(pool)
    # Timed from before the first call: the refill runs from when that one took its tokens,
    # so the second call's wait alone is 0.2 s less that call's round trip.
    started = time.monotonic()
    await limiter.acquire("test:cost", FIVE_PER_SECOND, cost=5)
    await limiter.acquire("test:cost", FIVE_PER_SECOND, cost=1)
    assert time.monotonic() - started >= 0.2 - SLACK
    with pytest.raises(ValueError):
        await limiter.acquire("test:cost", FIVE_PER_SECOND, cost=6)
    with pytest.raises(ValueError):
        await limiter.acquire("test:cost", Limit(calls=0, per_seconds=1))


def test_documented_limits_and_bucket_names() -> None:
    assert (YOUTUBE_QUOTA.calls, YOUTUBE_QUOTA.per_seconds) == (10_000, 86_400)
    assert (X_TRENDS.calls, X_TRENDS.per_seconds) == (75, 900)
    assert (X_POSTS.calls, X_POSTS.per_seconds) == (100, 900)
    assert youtube_quota(500).calls == 500
    name = bucket_name("x", "trends", "super-secret-token")
    assert name.startswith("x:trends:") and "super-secret-token" not in name
    assert name != bucket_name("x", "trends", "another-token")
    assert bucket_name("x", "trends") == "x:trends:default"
