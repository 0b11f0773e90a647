"""The overview: `chimera status` in the browser, refreshed live."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from chimera.auth.roles import Action
from chimera.console.charts import bar_chart
from chimera.console.security import Ctx, page
from chimera.ops.status import collect

CACHE_S = 2.0


async def _report(ctx: Ctx) -> dict[str, Any]:
    """The status report, taken at most every CACHE_S seconds (pages poll it)."""
    cached = ctx.state.status_cache
    now = time.monotonic()
    if cached is not None and now - cached[0] < CACHE_S:
        return cached[1]
    report = await collect(ctx.state.settings)
    ctx.state.status_cache = (now, report)
    return report


def _context(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "report": report,
        "charts": {
            section: bar_chart(report.get(section, {}), label=f"{section} by state")
            for section in ("workflows", "content", "publications")
        },
    }


@page(Action.READ)
async def overview(ctx: Ctx) -> Response:
    """Items by state, per-agent lag, outbox backlog, dead letters, latest alerts."""
    return ctx.render("overview.html", **_context(await _report(ctx)))


@page(Action.READ)
async def overview_live(ctx: Ctx) -> Response:
    """The overview's body alone, for the live refresh."""
    return ctx.render("_overview_live.html", **_context(await _report(ctx)))
