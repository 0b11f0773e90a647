"""The research agent's handlers: fetch trends, store them, announce the ones that matter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.repositories.trends import upsert_trend, upsert_trends
from agents.runtime import AgentRuntime, Tx, emits
from agents.runtime.subscription import LoopFn
from core.ids import derived_id
from events import AuditRecorded, Envelope, FetchTrends, OperatorAlert, Trend, TrendDiscovered
from events.catalog import FetchTrendsPayload
from skills.trends.models import FetchTrendsInput
from skills.trends.skill import fetch_trends

AGENT = "research"
log = logging.getLogger("chimera.research")


class ResearchSettings(BaseSettings):
    """Configured with CHIMERA_RESEARCH_* variables (lists as JSON)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_RESEARCH_", extra="ignore")

    interval_seconds: float = Field(
        default=900.0, ge=0, description="Fetch on this schedule; 0 turns it off."
    )
    platforms: list[str] = Field(default_factory=lambda: ["feed"])
    categories: list[str] = Field(default_factory=list)
    time_range: str = "24h"
    max_results: int = Field(default=50, ge=1, le=50)
    velocity_growth: float = Field(
        default=1000.0,
        ge=0,
        description="Re-announce a known trend when its velocity grew by this much (views/h).",
    )


@emits(AuditRecorded)
async def on_trends(events: list[TrendDiscovered], tx: Tx) -> None:
    """Any TrendDiscovered on the trends topic (ours or injected) lands in `trends`."""
    await upsert_trends(tx.conn, [e.payload for e in events])
    for event in events:
        await tx.audit(
            "trend:stored",
            cause=event,
            input_data={"trend_id": event.payload.id, "producer": event.producer},
        )


async def fetch_and_announce(
    rt: AgentRuntime,
    request: FetchTrendsPayload,
    settings: ResearchSettings,
    cause: Envelope[Any] | None = None,
) -> int:
    """Call the trend-fetch skill, upsert every trend, announce new or accelerating ones."""
    # Feeds come from the trusted CHIMERA_TRENDS_FEED_URLS (default: the bundled sample).
    output = await rt.skills(fetch_trends, FetchTrendsInput.model_validate(request.model_dump()))
    announced = 0
    for trend in output.trends:
        async with rt.transaction() as tx:
            previous = await upsert_trend(tx.conn, trend)
            if previous is not None and trend.velocity - previous < settings.velocity_growth:
                continue
            await tx.emit(_discovered(trend, cause), key=trend.id)
            await tx.audit(
                "trend:announce",
                cause=cause,
                discriminator=trend.id,
                input_data={"trend_id": trend.id},
                output_data={"velocity": trend.velocity, "previous": previous},
            )
            announced += 1
    if not output.success and output.error is not None and output.error.category.alerts:
        async with rt.transaction() as tx:
            await tx.alert(output.error, subject="skill_fetch_trends", cause=cause)
    return announced


def _discovered(trend: Trend, cause: Envelope[Any] | None) -> TrendDiscovered:
    # The same observation of the same item always gets the same event id.
    event_id = derived_id("trend", trend.id, trend.timestamp.isoformat())
    return TrendDiscovered.create(
        trend, producer=AGENT, causation=cause, event_id=event_id, correlation_id=event_id
    )


def on_fetch_command(
    settings: ResearchSettings,
) -> Callable[[FetchTrends, AgentRuntime], Awaitable[None]]:
    @emits(TrendDiscovered, AuditRecorded, OperatorAlert)
    async def handle(event: FetchTrends, rt: AgentRuntime) -> None:
        await fetch_and_announce(rt, event.payload, settings, cause=event)
        async with rt.transaction() as tx:
            await tx.claim("research.commands", event)
            await tx.audit("fetch:done", cause=event)

    return handle


def schedule(settings: ResearchSettings) -> LoopFn:
    @emits(TrendDiscovered, AuditRecorded, OperatorAlert)
    async def research_schedule(rt: AgentRuntime) -> None:
        if settings.interval_seconds <= 0:
            return
        request = FetchTrendsPayload.model_validate(
            {
                "platforms": settings.platforms,
                "categories": settings.categories,
                "time_range": settings.time_range,
                "max_results": settings.max_results,
            },
            strict=False,
        )
        while True:
            try:
                await fetch_and_announce(rt, request, settings)
            except Exception:
                log.exception("scheduled trend fetch failed")
            await asyncio.sleep(settings.interval_seconds)

    return research_schedule
