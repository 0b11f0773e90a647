"""Review decisions from people: check the content waits, build the command, send it, and
wait for the orchestrator to apply or refuse it. Shared by `chimera review` and the console.

The command is sent through the same validated sending as `chimera inject`
(`chimera.ops.inject.send`, after a strict decode of its encoding). Its event id is derived
from the content, the person and a nonce (one per form shown, or per CLI call), so the same
form sent twice is one command: the orchestrator's inbox drops the copy.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticValidationError

from agents.repositories import reviews
from chimera.auth import users
from chimera.auth.roles import Action, may
from chimera.ops.inject import send
from core.db import Executor
from core.errors import ValidationError
from core.ids import derived_id
from core.settings import Settings
from events import ApproveContent, DecodeError, Envelope, RejectContent, decode, encode
from events.catalog import ApproveContentPayload, ContentEdits, RejectContentPayload
from skills.script.models import Script

E = TypeVar("E", bound=Envelope[Any])
PRODUCER_CLI = "chimera-cli"
PRODUCER_CONSOLE = "chimera-console"


def script_lines(raw: str | None) -> list[str]:
    """What a stored script says, in order (the raw text when it is not a script)."""
    if not raw:
        return []
    try:
        return Script.model_validate_json(raw).lines
    except PydanticValidationError:
        return [raw]


def decision_event_id(content_id: str, actor: str, nonce: str) -> uuid.UUID:
    """One event id per (content, person, form or call)."""
    return derived_id("review-decision", content_id, actor, nonce)


async def reviewer(db: Executor, name: str) -> users.Principal:
    """The active user `name` if they may review; a clear ValidationError otherwise."""
    found = {u.name: u for u in await users.list_users(db)}.get(name)
    if found is None:
        raise ValidationError(f"no user {name!r} (`chimera users add` creates one)")
    if found.disabled:
        raise ValidationError(f"user {name!r} is disabled")
    if not may(found.role, Action.REVIEW):
        raise ValidationError(
            f"user {name!r} is a {found.role.value}; approving and rejecting needs the "
            "reviewer role or above"
        )
    return users.Principal(found.name, found.role)


async def pending_review(db: Executor, content_id: str) -> reviews.Review:
    """The review of `content_id` if it still waits for a decision; else a clear error."""
    review = await reviews.get(db, content_id)
    if review is None:
        raise ValidationError(f"content {content_id} is not waiting for approval")
    if review.status != "pending":
        how = "by the expiry" if review.expired else f"by {review.decided_by}"
        raise ValidationError(
            f"content {content_id} was already {review.status} {how}"
            + (f" at {review.decided_at:%Y-%m-%d %H:%M:%S} UTC" if review.decided_at else "")
        )
    return review


def parse_edits(edits: dict[str, Any]) -> ContentEdits:
    """A reviewer's edits, validated; one clear ValidationError naming every problem."""
    try:
        return ContentEdits.model_validate(edits, strict=False)
    except PydanticValidationError as exc:
        raise ValidationError(
            "invalid edits: "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None


def approval(
    review: reviews.Review,
    actor: str,
    edits: dict[str, Any],
    *,
    reason: str = "",
    nonce: str,
    producer: str,
) -> ApproveContent:
    """The ApproveContent command for `review` (edits validated like the orchestrator does)."""
    return _validated(
        ApproveContent.create(
            ApproveContentPayload(
                content_id=review.content_id,
                actor=actor,
                decided_at=datetime.now(UTC),
                reason=reason,
                edits=parse_edits(edits),
            ),
            producer=producer,
            correlation_id=review.correlation_id,
            event_id=decision_event_id(review.content_id, actor, nonce),
        )
    )


def rejection(
    review: reviews.Review, actor: str, reason: str, *, nonce: str, producer: str
) -> RejectContent:
    """The RejectContent command for `review` (a reason is required)."""
    return _validated(
        RejectContent.create(
            RejectContentPayload(
                content_id=review.content_id,
                actor=actor,
                decided_at=datetime.now(UTC),
                reason=reason,
            ),
            producer=producer,
            correlation_id=review.correlation_id,
            event_id=decision_event_id(review.content_id, actor, nonce),
        )
    )


def _validated(event: E) -> E:
    """Round-trip through the agents' strict decoding: what passes here is accepted there."""
    try:
        decode(encode(event), (event.event_type,))
    except DecodeError as exc:
        raise ValidationError(f"the decision does not validate: {exc.message}") from None
    return event


async def submit(settings: Settings, event: ApproveContent | RejectContent) -> None:
    """Send the decision to `review.commands`, keyed by the content id."""
    await send(settings, [event])


async def wait_for_outcome(
    db: Executor, event_id: uuid.UUID, wait_s: float = 15.0
) -> reviews.Outcome:
    """The orchestrator's answer to a decision: applied, refused (why), or still pending."""
    deadline = time.monotonic() + wait_s
    while True:
        found = await reviews.outcome(db, event_id)
        if found.state != "pending" or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.25)
