"""What a skill gets from its caller: `SkillContext`, built in a composition root.

A skill sees only what it needs, typed: the folders it may use, two HTTP clients (`http` for
the platform APIs named in the settings, `untrusted_http` behind the SSRF guard for any URL that
comes from input or a third party: feeds, thumbnails, footage), the shared
rate limiter, the trend-snapshot store, its settings, the retry policy and the observers that
audit each call. It never sees Chimera's `Settings` (the Kafka password, the database URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import httpx

from core.private import private_dir
from core.retry import RetryPolicy
from core.settings import Settings
from skills.accounts.tokens import AccessTokens
from skills.net.guard import UrlGuard
from skills.net.http import guarded_client
from skills.ratelimit import RateLimiter
from skills.settings import SkillSettings

if TYPE_CHECKING:
    from events import Trend
    from skills.base import SkillCall


@dataclass(frozen=True)
class SkillPaths:
    """The folders skills may read and write."""

    state_dir: Path
    media_dir: Path

    @classmethod
    def of(cls, settings: Settings) -> SkillPaths:
        """The folders of `settings`, created owner-only (0700) when missing."""
        return cls(
            state_dir=private_dir(settings.state_dir), media_dir=private_dir(settings.media_root)
        )


class SkillObserver(Protocol):
    """Told about every finished skill call (agents use it to emit audit events)."""

    async def __call__(self, call: SkillCall) -> None: ...


ProgressStage = Literal[
    "download", "transcription", "narration", "footage", "render", "quality", "upload"
]
"""The long stages whose progress is reported."""


@dataclass(frozen=True)
class Progress:
    """How far a long stage of a skill is: `fraction` in [0, 1] of `stage`, with a detail."""

    stage: ProgressStage
    fraction: float
    detail: str = ""


class ProgressSink(Protocol):
    """Told about progress (cheap and synchronous: it may be called from a worker thread)."""

    def __call__(self, progress: Progress) -> None: ...


def no_progress(progress: Progress) -> None:
    """The default sink: progress goes nowhere."""


class TrendSnapshots(Protocol):
    """Where trend snapshots are kept, so velocity (views gained per hour) can be computed."""

    async def apply_velocity(
        self, trends: list[Trend], observed_at: datetime, *, retention: timedelta
    ) -> list[Trend]: ...


@dataclass
class SkillContext:
    """Resources a skill may use, built by the caller. Add fields with defaults only."""

    #: The platform APIs and token endpoints (hosts fixed by the settings).
    http: httpx.AsyncClient
    paths: SkillPaths
    settings: SkillSettings = field(default_factory=SkillSettings)
    limiter: RateLimiter | None = None
    snapshots: TrendSnapshots | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    observers: Sequence[SkillObserver] = ()
    #: Live access tokens of connected accounts (publishers); None: the static settings.
    tokens: AccessTokens | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    progress: ProgressSink = no_progress

    def report(self, stage: ProgressStage, fraction: float, detail: str = "") -> None:
        """Report progress of `stage` (fraction clamped to [0, 1])."""
        self.progress(Progress(stage, min(1.0, max(0.0, fraction)), detail))

    #: Any URL from input or a third party (feeds and what they link to, footage and
    #: thumbnails): every request and
    #: redirect hop checked by the SSRF guard, connections made to the checked address only
    #: (`skills.net.http`). None: one is made from `settings.media.ssrf_allowed_hosts`.
    untrusted_http: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        if self.untrusted_http is None:
            self.untrusted_http = guarded_client(UrlGuard(self.settings.media.ssrf_allowed_hosts))

    @property
    def untrusted(self) -> httpx.AsyncClient:
        """The guarded client (`untrusted_http`, always set after construction)."""
        assert self.untrusted_http is not None
        return self.untrusted_http

    async def aclose(self) -> None:
        """Close both clients."""
        await self.untrusted.aclose()
        await self.http.aclose()
