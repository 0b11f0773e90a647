"""Alerts: the latest OperatorAlerts, and acknowledging them (stored with the user's name)."""

from __future__ import annotations

import uuid

from starlette.responses import Response

from agents.repositories import acknowledgements, reports
from chimera.auth.roles import Action
from chimera.console import audit
from chimera.console.security import Ctx, page
from chimera.ops import alerts as alert_ops
from core.errors import ValidationError
from events import Topics


@page(Action.READ)
async def alerts(ctx: Ctx) -> Response:
    """The latest alerts, unacknowledged first."""
    found = await alert_ops.latest(ctx.state.settings, 200)
    acks = await reports.acknowledgements(ctx.state.pool, [uuid.UUID(a["event_id"]) for a in found])
    found.sort(key=lambda a: a["event_id"] in acks)
    return ctx.render("alerts.html", alerts=found, acks=acks)


@page(Action.OPERATE)
async def acknowledge(ctx: Ctx) -> Response:
    """Record that the user has seen the alert (once; a second acknowledgement is a no-op)."""
    form = await ctx.request.form()
    try:
        alert_id = uuid.UUID(str(ctx.request.path_params["event_id"]))
    except ValueError:
        raise ValidationError("not an alert id") from None
    note = str(form.get("note", "")).strip()[:500]
    first = await acknowledgements.acknowledge(ctx.state.pool, alert_id, ctx.session.user, note)
    if first:
        await audit.record(
            ctx.state.producer,
            Topics(ctx.state.settings.topic_prefix),
            "alert:acknowledged",
            actor=ctx.session.user,
            key=str(alert_id),
            input_data={"alert_event_id": str(alert_id), "note": note},
        )
    text = "Acknowledged." if first else "It was acknowledged already."
    return ctx.redirect("/alerts", {"kind": "ok", "text": text})
