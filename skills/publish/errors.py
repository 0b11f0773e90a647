"""Errors and HTTP helpers shared by the publishers.

The rule that matters most: a publish is never blindly retried once the platform may have
accepted it. Requests that cannot have created anything (uploads of parts, reads) fail with
`TransientError` and may be retried; a request that may have created the post and whose answer
was lost fails with `OutcomeUnknownError`, a *permanent* error, so the `@skill` retry wrapper
does not run the publish again. The caller reconciles with `skill_find_publication`.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from core.errors import PermanentError, TransientError
from skills.context import SkillContext
from skills.ratelimit import Limit

#: Errors raised before a request left this machine: nothing can have been created.
NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


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


def bearer(token: SecretStr | None, platform: str, variable: str) -> dict[str, str]:
    """The Authorization header for a configured access token; a missing one is permanent."""
    if token is None or not token.get_secret_value():
        raise PermanentError(
            f"{platform}: no access token configured ({variable})",
            code="CREDENTIALS_MISSING",
            details={"platform": platform},
        )
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


async def send(
    ctx: SkillContext,
    method: str,
    url: str,
    *,
    platform: str,
    step: str,
    commit: bool = False,
    publication_id: str | None = None,
    platform_ref: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request through `ctx.http`, translating transport failures.

    With `commit=True` (the request may create the post), a failure after the request may have
    reached the platform raises `OutcomeUnknownError`; otherwise `TransientError`.
    Messages name the platform and step only: never URLs (signed upload URLs) or headers.
    """
    try:
        return await ctx.http.request(method, url, **kwargs)
    except NOT_SENT as exc:
        raise TransientError(
            f"{platform} {step}: could not connect ({type(exc).__name__})",
            code="NETWORK_ERROR",
            details={"platform": platform, "step": step},
        ) from exc
    except httpx.TransportError as exc:
        if commit:
            raise outcome_unknown(
                platform,
                step,
                publication_id,
                reason=type(exc).__name__,
                platform_ref=platform_ref,
            ) from exc
        raise TransientError(
            f"{platform} {step}: {type(exc).__name__}",
            code="TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "NETWORK_ERROR",
            details={"platform": platform, "step": step},
        ) from exc


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


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when the body is not a JSON object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
