"""HTTP for the skills that talk to platform APIs: one way to send, one map of failures.

Every trend source and every publisher sends through `send` (a streamed read maps its own
failures with `request_error`), so a failure has the same code wherever it happens. httpx's
error tree, and what each branch becomes:

    httpx.RequestError
    ├── TransportError
    │   ├── ConnectError, ConnectTimeout, PoolTimeout,   never left this machine
    │   │   UnsupportedProtocol                          -> TransientError NETWORK_ERROR
    │   ├── ReadTimeout, WriteTimeout                    -> TransientError TIMEOUT
    │   └── ReadError, WriteError, RemoteProtocolError,  may have been sent
    │       ProxyError, ...                              -> TransientError NETWORK_ERROR
    └── DecodingError, TooManyRedirects                  -> UnknownError REQUEST_FAILED

A request that may create something (a publisher's post or last upload chunk) passes
`outcome_unknown`: every failure after the request may have left, whatever its branch, then
raises the error that factory builds (publishing's `OutcomeUnknownError`, never retried), so
nothing is done twice. A failure before it left stays transient: nothing can have been created.

A URL that the SSRF guard refuses (requests through `SkillContext.untrusted`) raises
`refused_error`'s `ValidationError` `URL_REFUSED`: nothing was sent, and retrying cannot help.

Messages name the platform and the step and the httpx error's type, never a URL (signed upload
URLs, API keys in the query) nor a header; a caller that wants the URL in `details` passes
`report_url`, which redacts it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.errors import OperationError, TransientError, UnknownError, ValidationError
from skills.net.guard import URLRefused

__all__ = [
    "NOT_SENT",
    "OutcomeUnknown",
    "json_body",
    "json_object",
    "refused_error",
    "request_error",
    "retry_after_seconds",
    "send",
]

#: Errors raised before the request left this machine: the server cannot have seen it.
NOT_SENT: tuple[type[httpx.RequestError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)

#: Builds the caller's error for a request whose outcome is unknown, from a short reason.
OutcomeUnknown = Callable[[str], OperationError]


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    platform: str,
    step: str,
    outcome_unknown: OutcomeUnknown | None = None,
    report_url: Callable[[httpx.URL], str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request through `http`; a failure to get an answer raises `request_error`'s error.

    `kwargs` go to `httpx.AsyncClient.request` (params, json, content, headers, timeout, ...).
    Any answer, whatever its status, is returned: statuses are the platform module's to map.
    """
    try:
        return await http.request(method, url, **kwargs)
    except URLRefused as exc:  # the guarded client (`skills.net.http`) refused it: never sent
        raise refused_error(exc) from None
    except httpx.RequestError as exc:
        details = {"url": report_url(_target(url, kwargs))} if report_url else None
        raise request_error(
            exc, platform=platform, step=step, details=details, outcome_unknown=outcome_unknown
        ) from exc


def refused_error(refusal: URLRefused) -> ValidationError:
    """The error for a URL the SSRF guard refused (nothing was contacted): not retried."""
    return ValidationError(
        f"URL refused: {refusal.reason}",
        code="URL_REFUSED",
        details={"url": refusal.url, "reason": refusal.reason},
    )


def request_error(
    exc: httpx.RequestError,
    *,
    platform: str,
    step: str,
    details: dict[str, Any] | None = None,
    outcome_unknown: OutcomeUnknown | None = None,
) -> OperationError:
    """The Chimera error for an httpx request error (the table in this module's docstring)."""
    name = type(exc).__name__
    sent = not isinstance(exc, NOT_SENT)
    if sent and outcome_unknown is not None:
        return outcome_unknown(name)
    info: dict[str, Any] = {"platform": platform, "step": step, **(details or {})}
    where = f"{platform} {step}"
    if not sent:
        return TransientError(
            f"{where}: could not connect ({name})", code="NETWORK_ERROR", details=info
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"{where}: no answer in time ({name})", code="TIMEOUT", details=info)
    if isinstance(exc, httpx.TransportError):
        return TransientError(
            f"{where}: connection failed ({name})", code="NETWORK_ERROR", details=info
        )
    return UnknownError(f"{where}: request failed ({name})", code="REQUEST_FAILED", details=info)


def _target(url: str, kwargs: dict[str, Any]) -> httpx.URL:
    """The URL the request went to, query parameters included (for `report_url`)."""
    return httpx.URL(url, params=kwargs.get("params"))


def json_body(response: httpx.Response) -> Any | None:
    """The decoded JSON body, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body's JSON object, or {} when the body is not a JSON object."""
    body = json_body(response)
    return body if isinstance(body, dict) else {}


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the platform asked us to wait: Retry-After (seconds or HTTP date) or X's
    `x-rate-limit-reset` / `x-user-limit-24hour-reset` (epoch seconds)."""
    now = time.time() if now is None else now
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now)
    waits = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        if response.headers.get(f"{prefix}-remaining") == "0":
            reset = _epoch(response.headers.get(f"{prefix}-reset"))
            if reset is not None:
                waits.append(reset - now)
    if not waits and response.status_code == 429:
        reset = _epoch(response.headers.get("x-rate-limit-reset"))
        if reset is not None:
            waits.append(reset - now)
    return max(0.0, max(waits)) if waits else None


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
