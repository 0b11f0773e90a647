"""Errors and helpers shared by the publishers (requests go through `skills.http.send`).

The rule that matters most: a publish is never blindly retried once the platform may have
accepted it. Requests that cannot have created anything (uploads of parts, reads) fail with
`TransientError` and may be retried; a request that may have created the post and whose answer
was lost fails with `OutcomeUnknownError`, a *permanent* error, so the `@skill` retry wrapper
does not run the publish again. The caller reconciles with `skill_find_publication`. Such a
request passes `outcome_unknown=committing(...)` to `skills.http.send`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from core.errors import PermanentError, TransientError
from skills.context import SkillContext
from skills.ratelimit import Limit


class OutcomeUnknownError(PermanentError):
    """The step that creates the post may or may not have succeeded: reconcile, never re-post.

    Permanent on purpose: the `@skill` wrapper retries transient errors only. `details` carry
    what reconciliation needs (platform, publication_id, step, platform_ref when known).
    """

    default_code = "OUTCOME_UNKNOWN"


def outcome_unknown(
    platform: str,
    step: str,
    publication_id: str | None,
    *,
    reason: str,
    platform_ref: str | None = None,
) -> OutcomeUnknownError:
    """Build the error for a create/commit step whose answer was lost."""
    details: dict[str, Any] = {
        "platform": platform,
        "step": step,
        "publication_id": publication_id,
        "reason": reason,
        "action": "reconcile with skill_find_publication before publishing again",
    }
    if platform_ref:
        details["platform_ref"] = platform_ref
    return OutcomeUnknownError(
        f"{platform} {step}: outcome unknown ({reason}); do not re-post, reconcile",
        details=details,
    )


def committing(
    platform: str, step: str, publication_id: str | None, *, platform_ref: str | None = None
) -> Callable[[str], OutcomeUnknownError]:
    """`skills.http.send`'s `outcome_unknown` for a step that may create the post.

    `send` calls it with the reason (the httpx error's type) when the request may have reached
    the platform but no answer came back: the publish fails OUTCOME_UNKNOWN, never transient.
    """

    def build(reason: str) -> OutcomeUnknownError:
        return outcome_unknown(
            platform, step, publication_id, reason=reason, platform_ref=platform_ref
        )

    return build


async def authorization(
    ctx: SkillContext,
    platform: str,
    account: str | None,
    static: SecretStr | None,
    variable: str,
) -> dict[str, str]:
    """The Authorization header: the connected account's live token (`ctx.tokens`, refreshed
    ahead of expiry), else a static token from the settings; none is a permanent error."""
    if ctx.tokens is not None:
        token = await ctx.tokens.bearer(platform, account)
        return {"Authorization": f"Bearer {token.get_secret_value()}"}
    return bearer(static, platform, variable)


def bearer(token: SecretStr | None, platform: str, variable: str) -> dict[str, str]:
    """The Authorization header for a configured access token; a missing one is permanent."""
    if token is None or not token.get_secret_value():
        raise PermanentError(
            f"{platform}: no access token configured ({variable})",
            code="CREDENTIALS_MISSING",
            details={"platform": platform},
        )
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


async def wait_error(
    ctx: SkillContext,
    *,
    platform: str,
    step: str,
    code: str,
    message: str,
    wait_s: float | None,
    max_inline_wait_s: float,
    bucket: str | None = None,
    details: dict[str, Any] | None = None,
) -> TransientError:
    """A transient error for 'wait and retry' answers (429, quota, usage caps).

    The limiter bucket is held for the whole wait. The `@skill` wrapper only waits inline when
    the wait is short (<= max_inline_wait_s); longer waits are reported in
    details.retry_after_s for the caller to schedule.
    """
    info: dict[str, Any] = {"platform": platform, "step": step, **(details or {})}
    if wait_s is not None:
        info["retry_after_s"] = round(wait_s, 3)
        if ctx.limiter is not None and bucket is not None and wait_s > 0:
            await ctx.limiter.hold(bucket, wait_s)
    inline = wait_s if wait_s is not None and wait_s <= max_inline_wait_s else None
    return TransientError(message, code=code, details=info, retry_after=inline)


async def acquire(ctx: SkillContext, bucket: str, limit: Limit, cost: int = 1) -> None:
    """Wait for the shared rate limiter, when the caller provided one."""
    if ctx.limiter is not None:
        await ctx.limiter.acquire(bucket, limit, cost)
