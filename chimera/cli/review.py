"""`chimera review ...`: content that waits for approval, from the terminal.

Who decides: `--as NAME` (or CHIMERA_REVIEW_AS) names a Chimera user (`chimera users`), who
must be active and at least a reviewer. With CHIMERA_REVIEW_TOKEN (an API token from
`chimera users token NAME`) the token says who you are instead, and `--as` must agree.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer

from agents.repositories import reports
from chimera.auth import users
from chimera.cli.common import ErrorsAsOneLine, load_settings
from chimera.ops import review
from core.db import Executor, create_pool, require_schema
from core.errors import ChimeraError, OperationError
from core.settings import Settings

T = TypeVar("T")

review_app = typer.Typer(
    no_args_is_help=True,
    cls=ErrorsAsOneLine,
    help="Content that waits for approval: list, show, approve, reject.",
)


def _run(work: Callable[[Settings, Executor], Awaitable[T]]) -> T:
    settings = load_settings()

    async def main() -> T:
        await require_schema(settings)
        pool = await create_pool(settings, max_size=2)
        try:
            return await work(settings, pool)
        except OperationError as exc:
            raise ChimeraError(exc.message) from None
        finally:
            await pool.close()

    return asyncio.run(main())


async def _actor(db: Executor, named: str | None) -> str:
    """The reviewer deciding: from the token when one is configured, else the name given."""
    token = os.environ.get("CHIMERA_REVIEW_TOKEN", "")
    named = named or os.environ.get("CHIMERA_REVIEW_AS") or None
    if token:
        principal = await users.verify_token(db, token)
        if principal is None:
            raise ChimeraError("CHIMERA_REVIEW_TOKEN is not a valid, active API token")
        if named is not None and named != principal.name:
            raise ChimeraError(f"the token belongs to {principal.name}, not {named}")
        named = principal.name
    if named is None:
        raise ChimeraError("say who decides: --as NAME (or CHIMERA_REVIEW_AS / _TOKEN)")
    return (await review.reviewer(db, named)).name


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


@review_app.command("list")
def list_(
    status: Annotated[str, typer.Option(help="pending | approved | rejected")] = "pending",
) -> None:
    """Content waiting for approval (or decided, with --status)."""
    if status not in ("pending", "approved", "rejected"):
        raise ChimeraError("--status is one of pending, approved, rejected")
    rows = _run(lambda _s, db: reports.review_queue(db, status))
    if not rows:
        typer.echo(f"no {status} reviews")
        return
    typer.echo(f"{'CONTENT':<38} {'PLATFORMS':<16} {'WAITING SINCE':<17} {'EXPIRES':<17} TITLE")
    for r in rows:
        typer.echo(
            f"{r['content_id']:<38} {','.join(r['platforms']):<16} "
            f"{_when(r['requested_at']):<17} {_when(r['expires_at']):<17} {r['title']}"
        )


@review_app.command("show")
def show(content_id: Annotated[str, typer.Argument(help="The content id.")]) -> None:
    """One piece of content: video, script, trend, review and publications."""
    detail = _run(lambda _s, db: reports.content_detail(db, content_id))
    if detail is None:
        raise ChimeraError(f"no content {content_id}")
    rev = detail["review"]
    lines = [
        f"content   {detail['id']}  ({detail['status']})",
        f"trend     {detail['trend_title']}  [{detail['source']}, velocity "
        f"{detail['velocity'] or 0:g}/h]  {detail['trend_url'] or ''}",
        f"video     {detail['local_path'] or '-'}",
    ]
    if rev is not None:
        lines += [
            f"review    {rev['status']}"
            + (
                f" by {rev['decided_by']} at {_when(rev['decided_at'])}"
                if rev["decided_by"]
                else ""
            )
            + (f"; expires {_when(rev['expires_at'])}" if rev["status"] == "pending" else ""),
            f"title     {rev['title']}",
            f"platforms {', '.join(rev['platforms'])}",
            f"tags      {', '.join(rev['tags']) or '-'}",
        ]
        if rev["reason"]:
            lines.append(f"reason    {rev['reason']}")
    for refusal in detail["refusals"]:
        lines.append(f"refused   {refusal['decision']} by {refusal['actor']}: {refusal['reason']}")
    for pub in detail["publications"]:
        lines.append(f"published {pub['platform']}: {pub['status']} {pub['url'] or ''}")
    script = review.script_lines(detail["script"])
    if script:
        lines += ["", *script]
    typer.echo("\n".join(lines))


def _report(outcome: review.reviews.Outcome, what: str, content_id: str) -> None:
    if outcome.state == "applied":
        typer.echo(f"{what} {content_id}: {outcome.detail}")
    elif outcome.state == "refused":
        raise ChimeraError(f"the orchestrator refused the decision: {outcome.detail}")
    else:
        typer.echo(
            f"sent; the orchestrator has not handled it yet (`chimera review show {content_id}`)"
        )


@review_app.command("approve")
def approve(
    content_id: Annotated[str, typer.Argument(help="The content id.")],
    title: Annotated[str | None, typer.Option(help="Publish with this title instead.")] = None,
    description: Annotated[str | None, typer.Option(help="... this description.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="... these tags (repeatable).")] = None,
    schedule: Annotated[
        str | None, typer.Option(help="Publish at this time (ISO 8601 with a zone).")
    ] = None,
    platform: Annotated[
        list[str] | None, typer.Option(help="Only these of the planned platforms (repeatable).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (optional).")] = "",
    as_user: Annotated[str | None, typer.Option("--as", help="Who decides (a user).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the orchestrator.")] = 15.0,
) -> None:
    """Approve content that waits, optionally with edits; prints what the orchestrator did."""
    edits: dict[str, Any] = {
        k: v
        for k, v in {
            "title": title,
            "description": description,
            "tags": tag,
            "scheduled_at": schedule,
            "platforms": platform,
        }.items()
        if v is not None
    }

    async def work(settings: Settings, db: Executor) -> review.reviews.Outcome:
        actor = await _actor(db, as_user)
        pending = await review.pending_review(db, content_id)
        command = review.approval(
            pending,
            actor,
            edits,
            reason=reason,
            nonce=uuid.uuid4().hex,
            producer=review.PRODUCER_CLI,
        )
        await review.submit(settings, command)
        return await review.wait_for_outcome(db, command.event_id, wait)

    _report(_run(work), "approved", content_id)


@review_app.command("reject")
def reject(
    content_id: Annotated[str, typer.Argument(help="The content id.")],
    reason: Annotated[str, typer.Option(help="Why (required).")],
    as_user: Annotated[str | None, typer.Option("--as", help="Who decides (a user).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the orchestrator.")] = 15.0,
) -> None:
    """Reject content that waits; nothing of it is published where the gate held it."""
    if not reason.strip():
        raise ChimeraError("--reason must say why")

    async def work(settings: Settings, db: Executor) -> review.reviews.Outcome:
        actor = await _actor(db, as_user)
        pending = await review.pending_review(db, content_id)
        command = review.rejection(
            pending, actor, reason, nonce=uuid.uuid4().hex, producer=review.PRODUCER_CLI
        )
        await review.submit(settings, command)
        return await review.wait_for_outcome(db, command.event_id, wait)

    _report(_run(work), "rejected", content_id)
