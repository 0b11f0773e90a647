"""Dead letters: browse them, show headers and payload, redrive or purge them; the same
operations as `chimera dlq` (chimera.ops.dlq), for operators."""

from __future__ import annotations

from starlette.responses import Response

from chimera.auth.roles import Action
from chimera.console import audit
from chimera.console.security import Ctx, new_nonce, page
from chimera.ops import dlq
from core.errors import ValidationError
from events import Topics


def _where(ctx: Ctx) -> tuple[str, int, int]:
    params = ctx.request.path_params
    return str(params["topic"]), int(params["partition"]), int(params["offset"])


@page(Action.READ)
async def letters(ctx: Ctx) -> Response:
    """Unhandled dead letters per dead-letter topic (all of them with ?all=1)."""
    include = ctx.request.query_params.get("all") == "1"
    found = await dlq.list_dead_letters(ctx.state.settings, include_handled=include)
    return ctx.render(
        "deadletters.html",
        topics={t: [d.summary() for d in ds] for t, ds in found.items()},
        include_handled=include,
    )


@page(Action.READ)
async def letter(ctx: Ctx) -> Response:
    """One dead letter: why, from where, its original headers and payload."""
    topic, partition, offset = _where(ctx)
    found = await dlq.show(ctx.state.settings, topic, partition, offset)
    return ctx.render("deadletter.html", d=found.details(), nonce=new_nonce())


async def _handle(ctx: Ctx, operation: str) -> Response:
    topic, partition, offset = _where(ctx)
    form = await ctx.request.form()
    selection = dlq.Selection(records=((partition, offset),))
    ref = f"{topic}/{partition}/{offset}"
    if operation == "redrive":
        done = await dlq.redrive(ctx.state.settings, topic, selection)
        detail = ", ".join(f"{r.topic}/{r.partition}/{r.offset}" for r in done)
        text = f"Redriven {ref} to {detail}."
    elif form.get("confirm") == "yes":
        await dlq.purge(ctx.state.settings, topic, selection)
        detail, text = "", f"Purged {ref} (it stays in the topic until retention)."
    else:
        raise ValidationError("tick the box to confirm the purge")
    await audit.record(
        ctx.state.producer,
        Topics(ctx.state.settings.topic_prefix),
        f"dlq:{operation}",
        actor=ctx.session.user,
        key=f"{ref}:{form.get('nonce', '')}",
        input_data={"dead_letter": ref},
        output_data={"to": detail} if detail else None,
    )
    return ctx.redirect(f"/deadletters/{topic}/{partition}/{offset}", {"kind": "ok", "text": text})


@page(Action.OPERATE)
async def redrive(ctx: Ctx) -> Response:
    """Send the dead letter back to its original topic, then mark it handled."""
    return await _handle(ctx, "redrive")


@page(Action.OPERATE)
async def purge(ctx: Ctx) -> Response:
    """Mark the dead letter handled without sending it anywhere."""
    return await _handle(ctx, "purge")
