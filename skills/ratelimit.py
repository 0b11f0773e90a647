"""Rate limiting shared by every process through PostgreSQL, and the platforms' documented limits.

`PgRateLimiter` implements `RateLimiter` with GCRA (the generic cell rate
algorithm, a leaky bucket expressed as one timestamp per bucket). A `Limit(calls, per_seconds)`
gives an emission interval `T = per_seconds / calls` and allows a burst of `calls`. Each bucket
row in `rate_limit_buckets` holds `tat`, the theoretical arrival time; a caller reserves its slot
in one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` statement, under the row lock, which
moves `tat` forward by `T * cost` and tells the caller how long to wait. So:

* callers over the limit are never dropped: each reserves the next free slot, in the order the
  row lock was granted, and sleeps until it;
* every process (every pool, every host) that uses the same database shares the bucket;
* time is PostgreSQL's `clock_timestamp()`, so the hosts' clocks do not need to agree; a caller
  only sleeps for the returned number of seconds.

`hold(bucket, seconds)` blocks a bucket after a 429 with Retry-After: nothing is allowed before
the hold ends, and calls reserved after it are paced one emission interval apart (the platform's
window has just been spent). Callers that had already reserved a slot inside the hold check it
again when they wake and sleep until the hold ends.

A caller cancelled while it sleeps keeps its reservation (the slot is wasted, never given twice).
With `max_wait` set, a caller whose slot is further away than that is refused with a
`TransientError` (code RATE_LIMITED, `retry_after` set) and reserves nothing; without it every
caller waits, as the specification asks ("queue requests when rate limit exceeded").

Documented platform limits are constants below. Bucket names are "platform:operation:credential"
with the credential reduced to a fingerprint by `bucket_name`, so no secret reaches the table.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import TransientError

log = logging.getLogger("chimera.skills.ratelimit")


@dataclass(frozen=True)
class Limit:
    """A documented platform limit: at most `calls` per `per_seconds` (e.g. 75 per 900 s)."""

    calls: int
    per_seconds: float


class RateLimiter(Protocol):
    """Waits until a call is allowed; calls over the limit wait in order, none is dropped.

    `bucket` names the platform, operation and credential, e.g. "x:trends:app-1a2b".
    """

    async def acquire(self, bucket: str, limit: Limit, cost: int = 1) -> None: ...

    async def hold(self, bucket: str, seconds: float) -> None:
        """Block the bucket for `seconds` (the platform said 429 with Retry-After)."""
        ...


YOUTUBE_DAILY_UNITS = 10_000
"""YouTube Data API v3 default quota: 10,000 units a day per project (videos.list costs 1)."""

YOUTUBE_VIDEOS_LIST_COST = 1
YOUTUBE_QUOTA = Limit(calls=YOUTUBE_DAILY_UNITS, per_seconds=86_400)
X_TRENDS = Limit(calls=75, per_seconds=900)
"""X API v2 `GET /2/trends/by/woeid/:id`: 75 requests per 15 minutes per app."""
X_POSTS = Limit(calls=100, per_seconds=900)
"""X API v2 `POST /2/tweets`: 100 requests per 15 minutes per user."""
TIKTOK_POSTING = Limit(calls=6, per_seconds=60)
"""TikTok Content Posting API: about 6 requests per minute per user access token."""
TIKTOK_RESEARCH = Limit(calls=1_000, per_seconds=86_400)
"""TikTok Research API: 1,000 requests a day per client."""


def youtube_quota(daily_units: int = YOUTUBE_DAILY_UNITS) -> Limit:
    """The YouTube quota as a limit, for a project whose daily budget differs from the default."""
    if daily_units < 1:
        raise ValueError("daily_units must be at least 1")
    return Limit(calls=daily_units, per_seconds=86_400)


def fingerprint(secret: str) -> str:
    """A short, non-reversible tag of a credential: enough to tell credentials apart."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def bucket_name(platform: str, operation: str, credential: str | None = None) -> str:
    """`platform:operation:fingerprint`, e.g. "x:trends:1a2b3c4d5e6f"; never the secret itself."""
    tag = fingerprint(credential) if credential else "default"
    return f"{platform}:{operation}:{tag}"


_RESERVE = """
INSERT INTO rate_limit_buckets AS b (bucket, tat, emission_interval_s, period_s, updated_at)
VALUES ($1, clock_timestamp() + make_interval(secs => $2), $3, $4, clock_timestamp())
ON CONFLICT (bucket) DO UPDATE
   SET tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => $2),
       emission_interval_s = $3,
       period_s = $4,
       updated_at = clock_timestamp()
 WHERE $5::float8 IS NULL
    OR extract(epoch FROM greatest(
           greatest(b.tat, clock_timestamp()) + make_interval(secs => $2)
               - make_interval(secs => $4),
           b.held_until) - clock_timestamp()) <= $5::float8
RETURNING extract(epoch FROM greatest(b.tat - make_interval(secs => $4), b.held_until)
                  - clock_timestamp())::float8 AS wait
"""

_WOULD_WAIT = """
SELECT extract(epoch FROM greatest(
           greatest(tat, clock_timestamp()) + make_interval(secs => $2)
               - make_interval(secs => $3),
           held_until) - clock_timestamp())::float8
  FROM rate_limit_buckets WHERE bucket = $1
"""

_HELD_FOR = """
SELECT extract(epoch FROM held_until - clock_timestamp())::float8
  FROM rate_limit_buckets WHERE bucket = $1
"""

_HOLD = """
INSERT INTO rate_limit_buckets AS b (bucket, tat, held_until, updated_at)
VALUES ($1, clock_timestamp() + make_interval(secs => $2),
        clock_timestamp() + make_interval(secs => $2), clock_timestamp())
ON CONFLICT (bucket) DO UPDATE
   SET held_until = greatest(b.held_until, clock_timestamp() + make_interval(secs => $2)),
       tat = greatest(b.tat, clock_timestamp()
                      + make_interval(secs => $2 + b.period_s - b.emission_interval_s)),
       updated_at = clock_timestamp()
"""


class PgRateLimiter:
    """A `RateLimiter` whose buckets live in PostgreSQL, shared by every process using the pool's
    database. See the module docstring for the algorithm and its guarantees."""

    def __init__(
        self,
        pool: Any,
        *,
        max_wait: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        self.pool = pool
        self.max_wait = max_wait
        self._sleep = sleep

    async def acquire(self, bucket: str, limit: Limit, cost: int = 1) -> None:
        """Wait until `cost` calls are allowed in `bucket` under `limit`; reserve them."""
        if limit.calls < 1 or limit.per_seconds <= 0:
            raise ValueError(f"invalid limit {limit!r}")
        if cost < 0 or cost > limit.calls:
            raise ValueError(f"cost {cost} outside 0..{limit.calls} for {bucket}")
        if cost == 0:
            return
        interval = limit.per_seconds / limit.calls
        increment = interval * cost
        async with self.pool.acquire() as conn:
            wait = await conn.fetchval(
                _RESERVE, bucket, increment, interval, float(limit.per_seconds), self.max_wait
            )
            if wait is None:  # refused by max_wait: nothing was reserved
                would_wait = await conn.fetchval(
                    _WOULD_WAIT, bucket, increment, float(limit.per_seconds)
                )
                retry_after = max(float(would_wait or 0.0), 0.0)
                raise TransientError(
                    f"rate limit for {bucket} reached; next slot in {retry_after:.1f}s",
                    code="RATE_LIMITED",
                    details={"bucket": bucket, "limit": f"{limit.calls}/{limit.per_seconds}s"},
                    retry_after=retry_after,
                )
        if wait <= 0:
            return
        log.debug("%s: waiting %.3fs for a slot", bucket, wait)
        await self._sleep(wait)
        # A hold may have been placed while we slept: it applies to reserved slots too.
        while True:
            async with self.pool.acquire() as conn:
                held = await conn.fetchval(_HELD_FOR, bucket)
            if held is None or held <= 0:
                return
            log.debug("%s: held for another %.3fs", bucket, held)
            await self._sleep(held)

    async def hold(self, bucket: str, seconds: float) -> None:
        """Block `bucket` for `seconds` from now (a 429 with Retry-After); never shortens a hold."""
        if seconds <= 0:
            return
        async with self.pool.acquire() as conn:
            await conn.execute(_HOLD, bucket, float(seconds))
        log.info("%s: held for %.1fs", bucket, seconds)
