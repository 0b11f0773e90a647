"""The review queue: watch the video, read the script and captions, see the assets and
their licences and the trend it came from; approve (with edits) or reject (with a reason).

Before sending, the state is checked (the content must still wait); after sending, the page
waits briefly for the orchestrator and shows what it did, a refusal included.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, get_args

from starlette.responses import Response

from agents.repositories import reports, reviews
from chimera.auth.roles import Action
from chimera.console import audit
from chimera.console.security import Ctx, error_page, new_nonce, page
from chimera.ops import review as decisions
from core.errors import ValidationError
from events import ApproveContent, RejectContent, Topics
from events.catalog import PublishPlatform
from skills.media.render import plan_captions

OUTCOME_WAIT_S = 4.0
# Metadata keys that describe what went into the video and under which licence.
RIGHTS_KEYS = ("assets", "rights", "licenses", "licences", "credits", "sources")


@page(Action.READ)
async def queue(ctx: Ctx) -> Response:
    """Content waiting for a decision (oldest first), and the latest decisions."""
    pending = await reports.review_queue(ctx.state.pool, "pending")
    decided = await reports.review_queue(ctx.state.pool, "approved", limit=10)
    decided += await reports.review_queue(ctx.state.pool, "rejected", limit=10)
    decided.sort(key=lambda r: r["decided_at"] or datetime.min, reverse=True)
    return ctx.render("review_list.html", pending=pending, decided=decided[:10])


def _captions(detail: dict[str, Any]) -> list[Any]:
    lines = decisions.script_lines(detail["script"])
    duration = float(detail["metadata"].get("duration") or 0)
    return plan_captions(lines, duration) if duration > 0 else []


@page(Action.READ)
async def detail(ctx: Ctx) -> Response:
    """One piece of content with everything a reviewer needs, and the decision forms."""
    content_id = ctx.request.path_params["content_id"]
    found = await reports.content_detail(ctx.state.pool, content_id)
    if found is None:
        return error_page(ctx.request, 404, "Not found", f"There is no content {content_id}.")
    sent = ctx.request.query_params.get("sent", "")
    outcome = None
    if sent:
        try:
            outcome = await reviews.outcome(ctx.state.pool, uuid.UUID(sent))
        except ValueError:
            outcome = None
    metadata = found["metadata"]
    return ctx.render(
        "review_detail.html",
        c=found,
        review=found["review"],
        script=decisions.script_lines(found["script"]),
        captions=_captions(found),
        rights={k: metadata[k] for k in RIGHTS_KEYS if k in metadata},
        metadata={k: v for k, v in metadata.items() if k not in RIGHTS_KEYS},
        outcome=outcome,
        nonce=new_nonce(),
        platforms=get_args(PublishPlatform),
    )


def _edits(form: Any, review: reviews.Review) -> dict[str, Any]:
    """The edits a reviewer made: only the fields that differ from what would go out."""
    edits: dict[str, Any] = {}
    title = str(form.get("title", "")).strip()
    if title and title != review.title:
        edits["title"] = title
    description = str(form.get("description", "")).replace("\r\n", "\n").strip()
    if description != review.description.strip():
        edits["description"] = description
    tags = [t.strip().lstrip("#") for t in str(form.get("tags", "")).split(",") if t.strip()]
    if tags != review.tags:
        edits["tags"] = tags
    schedule = str(form.get("scheduled_at", "")).strip()
    if schedule:
        try:
            when = datetime.fromisoformat(schedule)
        except ValueError:
            raise ValidationError(f"not a date and time: {schedule!r}") from None
        # The form's field has no zone: the page says its times are UTC.
        edits["scheduled_at"] = (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    chosen = [str(p) for p in form.getlist("platforms")]
    if chosen and sorted(chosen) != sorted(review.platforms):
        edits["platforms"] = chosen
    return edits


async def _decide(ctx: Ctx, decision: str) -> Response:
    content_id = ctx.request.path_params["content_id"]
    form = await ctx.request.form()
    nonce = str(form.get("nonce", "")) or new_nonce()
    pending = await decisions.pending_review(ctx.state.pool, content_id)  # checked first
    actor = ctx.session.user
    command: ApproveContent | RejectContent
    if decision == "approve":
        command = decisions.approval(
            pending,
            actor,
            _edits(form, pending),
            reason=str(form.get("reason", "")).strip(),
            nonce=nonce,
            producer=decisions.PRODUCER_CONSOLE,
        )
    else:
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise ValidationError("a rejection needs a reason")
        command = decisions.rejection(
            pending, actor, reason, nonce=nonce, producer=decisions.PRODUCER_CONSOLE
        )
    await decisions.submit(ctx.state.settings, command)
    await audit.record(
        ctx.state.producer,
        Topics(ctx.state.settings.topic_prefix),
        f"review:{decision}:sent",
        actor=actor,
        key=str(command.event_id),
        input_data={"content_id": content_id, "event_id": str(command.event_id)},
        output_data=command.payload.model_dump(mode="json"),
    )
    await decisions.wait_for_outcome(ctx.state.pool, command.event_id, OUTCOME_WAIT_S)
    # The page shows the outcome of `sent` (and reloads itself while it is pending).
    return ctx.redirect(f"/review/{content_id}?sent={command.event_id}")


@page(Action.REVIEW)
async def approve(ctx: Ctx) -> Response:
    """Send ApproveContent with the edits made in the form."""
    return await _decide(ctx, "approve")


@page(Action.REVIEW)
async def reject(ctx: Ctx) -> Response:
    """Send RejectContent with the reason given."""
    return await _decide(ctx, "reject")
