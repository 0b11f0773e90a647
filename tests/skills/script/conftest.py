"""Fixtures of the script-writer tests: a context with respx-mockable HTTP, trends, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.retry import RetryPolicy
from events.trend import EngagementMetrics, Trend
from skills.context import SkillContext, SkillPaths
from skills.settings import SkillSettings
from skills.settings.script import ScriptSettings

LLM_BASE = "https://llm.example.test/v1"
LLM_KEY = "sk-test-llm-key-0123456789abcdef"


def script_settings(**overrides: Any) -> ScriptSettings:
    """Settings with the LLM explicit (the developer's environment cannot leak in)."""
    values: dict[str, Any] = {
        "llm_base_url": None,
        "llm_api_key": None,
        "llm_model": "test-model",
        "llm_timeout_s": 2.0,
    }
    values.update(overrides)
    return ScriptSettings(_env_file=None, **values)  # type: ignore[call-arg]


def make_trend(**overrides: Any) -> Trend:
    values: dict[str, Any] = {
        "id": "feed:synthwave",
        "platform": "feed",
        "topic": "synthwave covers",
        "title": "Synthwave covers of holiday songs",
        "description": "Musicians are remaking seasonal classics with 80s synthesizers. "
        "Short covers under a minute do best. Neon visuals help too.",
        "engagement_metrics": EngagementMetrics.of(
            views=143200, likes=12800, comments=640, shares=3100
        ),
        "velocity": 5400.0,
        "timestamp": datetime(2026, 11, 25, 12, tzinfo=UTC),
        "url": "https://example.com/trends/synthwave",
        "tags": ["music", "retro wave"],
    }
    values.update(overrides)
    return Trend(**values)


@pytest.fixture
def skit() -> Any:
    """Helpers for the test modules (helper modules are not importable in importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        LLM_BASE=LLM_BASE, LLM_KEY=LLM_KEY, script_settings=script_settings, make_trend=make_trend
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def script_ctx(http: httpx.AsyncClient) -> Callable[..., SkillContext]:
    def build(settings: ScriptSettings | None = None) -> SkillContext:
        async def no_sleep(_: float) -> None:
            return None

        return SkillContext(
            http=http,
            paths=SkillPaths(Path("/nonexistent"), Path("/nonexistent/media")),
            settings=SkillSettings(script=settings or script_settings()),
            retry=RetryPolicy(base_delay=0.0, jitter=0.0),
            sleep=no_sleep,
        )

    return build
