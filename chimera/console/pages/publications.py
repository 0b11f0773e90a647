"""Publications: platform, status, links, and engagement over time as a chart."""

from __future__ import annotations

from starlette.responses import Response

from agents.repositories import reports
from chimera.auth.roles import Action
from chimera.console.charts import line_chart
from chimera.console.security import Ctx, page


@page(Action.READ)
async def publications(ctx: Ctx) -> Response:
    """Every publication, newest first, with a chart of its views, likes and shares."""
    rows = await reports.publications_overview(ctx.state.pool)
    series = await reports.engagement_series(ctx.state.pool, [r["id"] for r in rows])
    charts = {
        pid: line_chart(
            {
                name: [(s["recorded_at"], float(s[name])) for s in points]
                for name in ("views", "likes", "shares")
            },
            label="engagement over time",
        )
        for pid, points in series.items()
        if points
    }
    return ctx.render("publications.html", rows=rows, charts=charts)
