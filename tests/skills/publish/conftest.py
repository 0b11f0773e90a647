"""Fixtures for the publishing skills: a SkillContext with respx-mocked HTTP and a fake sleep.

No real network: respx intercepts every request of the context's httpx client and refuses any
route a test did not declare. No Kafka/PostgreSQL either: these fixtures do not use the
session's `services`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from core.retry import RetryPolicy
from skills.context import SkillContext, SkillPaths
from skills.ratelimit import Limit
from skills.settings import SkillSettings
from skills.settings.publish import PublishSettings

YOUTUBE_TOKEN = "ya29.test-youtube-secret-token"
TIKTOK_TOKEN = "act.test-tiktok-secret-token"
X_TOKEN = "x-test-secret-token"
SECRETS = (YOUTUBE_TOKEN, TIKTOK_TOKEN, X_TOKEN)


@dataclass
class FakeSleep:
    """Records the waits instead of waiting."""

    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class FakeLimiter:
    """Records what the skills asked the rate limiter."""

    acquired: list[tuple[str, Limit, int]] = field(default_factory=list)
    held: list[tuple[str, float]] = field(default_factory=list)

    async def acquire(self, bucket: str, limit: Limit, cost: int = 1) -> None:
        self.acquired.append((bucket, limit, cost))

    async def hold(self, bucket: str, seconds: float) -> None:
        self.held.append((bucket, seconds))


@pytest.fixture
def publish_settings(tmp_path: Path) -> PublishSettings:
    return PublishSettings(
        publish_dir=tmp_path / "publish",
        youtube_access_token=SecretStr(YOUTUBE_TOKEN),
        tiktok_access_token=SecretStr(TIKTOK_TOKEN),
        x_access_token=SecretStr(X_TOKEN),
        youtube_chunk_size=256 * 1024,
        x_chunk_size=1000,
        tiktok_poll_interval_s=0.5,
        upload_max_attempts=3,
    )


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def limiter() -> FakeLimiter:
    return FakeLimiter()


@pytest.fixture
async def ctx(
    tmp_path: Path,
    publish_settings: PublishSettings,
    router: respx.MockRouter,
    fake_sleep: FakeSleep,
    limiter: FakeLimiter,
) -> AsyncIterator[SkillContext]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield SkillContext(
            http=http,
            paths=SkillPaths(tmp_path / "state", tmp_path / "state" / "media"),
            settings=SkillSettings(publish=publish_settings),
            limiter=limiter,
            retry=RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0.0),
            sleep=fake_sleep,
        )


def _make_video(path: Path, size: int) -> Path:
    """A file of `size` bytes whose content differs at every position (to check slices)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes((i * 7 + i // 251) % 256 for i in range(size)))
    return path


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.fixture
def make_video() -> Callable[[Path, int], Path]:
    """make_video(path, size): a test video file."""
    return _make_video


@pytest.fixture
def no_secrets() -> Callable[..., None]:
    """assert_no_secrets(*texts): no token appears in any of the texts."""
    return assert_no_secrets
