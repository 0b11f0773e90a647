"""Replay dry runs, for operators: what resetting an agent's group would replay or skip
(`chimera.ops.replay.plan_reset`; nothing moves; `chimera replay --execute` applies one)."""

from __future__ import annotations

from starlette.responses import Response

import agents
from chimera.auth.roles import Action
from chimera.console import audit
from chimera.console.security import Ctx, new_nonce, page
from chimera.ops import replay
from core.errors import ValidationError
from events import Topics


@page(Action.OPERATE)
async def replay_plan(ctx: Ctx) -> Response:
    """The form, and with `agent` and a target, the plan per partition."""
    q = ctx.request.query_params
    agent, to, duration = q.get("agent", ""), q.get("to", ""), q.get("by_duration", "").strip()
    plan = None
    if agent:
        if agent not in agents.AGENTS:
            raise ValidationError(f"no agent {agent!r}")
        target = (
            replay.Target.choose(by_duration=duration)
            if to == "duration"
            else replay.Target.choose(to=to or "earliest")
        )
        settings = ctx.state.settings
        plan = await replay.plan_reset(
            settings,
            replay.agent_group(settings, agent),
            replay.agent_topics(settings, agent),
            target,
        )
        await audit.record(
            ctx.state.producer,
            Topics(settings.topic_prefix),
            "replay:planned",
            actor=ctx.session.user,
            key=new_nonce(),
            input_data={"agent": agent, "target": plan.target},
            output_data={"replayed": plan.replayed, "skipped": plan.skipped},
        )
    return ctx.render(
        "replay.html",
        agents=list(agents.AGENTS),
        chosen={"agent": agent, "to": to or "earliest", "by_duration": duration},
        plan=plan,
    )
