"""The audit log: search by content, agent, person, action and time."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response

from agents.repositories import reports
from chimera.auth.roles import Action
from chimera.console.security import Ctx, page
from core.errors import ValidationError


def _time(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name}: not a date and time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@page(Action.READ)
async def audit_log(ctx: Ctx) -> Response:
    """Audit rows, newest first, narrowed by the form's fields."""
    q = ctx.request.query_params
    filters = {k: q.get(k, "").strip() for k in ("content", "agent", "actor", "action")}
    rows = await reports.audit_search(
        ctx.state.pool,
        content_id=filters["content"],
        agent=filters["agent"],
        actor=filters["actor"],
        action=filters["action"],
        since=_time(q.get("since", ""), "since"),
        until=_time(q.get("until", ""), "until"),
    )
    return ctx.render(
        "audit.html",
        rows=rows,
        filters={**filters, "since": q.get("since", ""), "until": q.get("until", "")},
        agents=await reports.audit_agents(ctx.state.pool),
    )
