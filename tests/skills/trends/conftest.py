"""Fixtures of the trend-fetcher tests: settings without ambient secrets, recording fakes,
an HTTP client (respx mocks it) and a context builder. Tests reach the helpers through the
`kit` fixture (helper modules are not importable under pytest's importlib mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from core.retry import RetryPolicy
from skills.context import SkillContext, SkillPaths
from skills.ratelimit import Limit, PgRateLimiter
from skills.settings import SkillSettings
from skills.settings.trends import SAMPLE_FEED, TrendsSettings
from skills.trends.velocity import PgTrendSnapshots
from tests.support import offline_client

DATA = Path(__file__).parent / "data"

YOUTUBE_KEY = "AIzaSy-test-key-0123456789abcdef"
X_TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-token-0123456789"
TIKTOK_KEY = "awtest-client-key-0123"
TIKTOK_SECRET = "test-client-secret-abcdef0123456789"
SECRETS = (YOUTUBE_KEY, X_TOKEN, TIKTOK_KEY, TIKTOK_SECRET)


def trends_settings(**overrides: Any) -> TrendsSettings:
    """Settings with every credential explicit (the developer's environment cannot leak in)."""
    values: dict[str, Any] = {
        "youtube_api_key": None,
        "x_bearer_token": None,
        "tiktok_client_key": None,
        "tiktok_client_secret": None,
        "trends_feed_urls": [str(SAMPLE_FEED)],
        "youtube_base_url": "https://www.googleapis.com/youtube/v3",
        "x_base_url": "https://api.x.com",
        "tiktok_base_url": "https://open.tiktokapis.com",
    }
    values.update(overrides)
    return TrendsSettings(_env_file=None, **values)  # type: ignore[call-arg]


class RecordingLimiter:
    """A RateLimiter that lets everything through and records what it was asked."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, Limit, int]] = []
        self.holds: list[tuple[str, float]] = []

    async def acquire(self, bucket: str, limit: Limit, cost: int = 1) -> None:
        self.acquired.append((bucket, limit, cost))

    async def hold(self, bucket: str, seconds: float) -> None:
        self.holds.append((bucket, seconds))


class Sleeps:
    """A context `sleep` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for the test modules."""
    return SimpleNamespace(
        DATA=DATA,
        YOUTUBE_KEY=YOUTUBE_KEY,
        X_TOKEN=X_TOKEN,
        TIKTOK_KEY=TIKTOK_KEY,
        TIKTOK_SECRET=TIKTOK_SECRET,
        trends_settings=trends_settings,
        RecordingLimiter=RecordingLimiter,
        assert_no_secret=assert_no_secret,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def untrusted() -> AsyncIterator[httpx.AsyncClient]:
    """The real guarded client (feeds), resolving offline and connecting to loopback only."""
    async with offline_client() as client:
        yield client


@pytest.fixture
def make_ctx(http: httpx.AsyncClient, untrusted: httpx.AsyncClient) -> Callable[..., SkillContext]:
    def build(
        ts: TrendsSettings | None = None,
        *,
        pool: Any = None,
        limiter: Any = None,
        untrusted_http: httpx.AsyncClient | None = None,
    ) -> SkillContext:
        ts = ts or trends_settings()
        if limiter is None and pool is not None:  # what the agents' runtime gives the skill
            limiter = PgRateLimiter(pool, max_wait=ts.trends_limiter_max_wait_s)
        return SkillContext(
            http=http,
            paths=SkillPaths(Path("/nonexistent"), Path("/nonexistent/media")),
            settings=SkillSettings(trends=ts),
            limiter=limiter,
            snapshots=PgTrendSnapshots(pool) if pool is not None else None,
            retry=RetryPolicy(base_delay=0.0, jitter=0.0),
            sleep=Sleeps(),
            untrusted_http=untrusted_http or untrusted,
        )

    return build
