"""Trends: velocity, source, and what became of each."""

from __future__ import annotations

from starlette.responses import Response

from agents.repositories import reports
from chimera.auth.roles import Action
from chimera.console.charts import meter
from chimera.console.security import Ctx, page


@page(Action.READ)
async def trends(ctx: Ctx) -> Response:
    """The latest trends with their decision, content and publications."""
    rows = await reports.trends_overview(ctx.state.pool)
    fastest = max((r["velocity"] for r in rows), default=0.0)
    return ctx.render(
        "trends.html", rows=rows, meters={r["id"]: meter(r["velocity"], fastest) for r in rows}
    )
