"""What every trend source shares: the request, the environment, status mapping, redaction.

Requests go through `skills.http.send` (timeouts and connection failures are mapped there, the
same for every skill: NETWORK_ERROR, TIMEOUT, REQUEST_FAILED) with `report_url=redact_url`, so
an error's `details.url` carries no secret. Status mapping (the specification's categories),
used by every platform module:

* 429, quota exceeded, rate limit exceeded, usage capped -> `TransientError`, `retry_after`
  from Retry-After (seconds or HTTP date) or X's `x-rate-limit-reset`;
* 5xx -> `TransientError`;
* 401/403 for an invalid, expired or revoked credential -> `PermanentError` (a person fixes it);
* a body that is not what the platform documents -> `UnknownError`.

Secrets never leave this package: URLs are reported with secret query parameters removed,
upstream messages are scrubbed of every configured secret, and httpx's request log line (which
prints the full URL, YouTube's `key=` included) is redacted by a logging filter.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from core.errors import PermanentError, TransientError, UnknownError
from core.redact import is_secret_name, mask_secret_assignments
from events.trend import Trend
from skills.http import retry_after_seconds
from skills.ratelimit import Limit, RateLimiter
from skills.settings.trends import TrendsSettings
from skills.trends.models import TIME_RANGES, SourceError

log = logging.getLogger("chimera.skills.trends")


# --- Redaction ----------------------------------------------------------------------------------
def redact_url(url: str | httpx.URL) -> str:
    """The URL without secret query parameters (YouTube's `key=` and the like)."""
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    kept = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_secret_name(k)
    ]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret value replaced by ***, and secret-named fields masked (the one
    list of secret names: `core.redact.SECRET_NAMES`)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return mask_secret_assignments(text)


class _RedactHttpxUrls(logging.Filter):
    """Rewrites httpx's "HTTP Request: GET <url>" records so the URL carries no secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 2:
            args = list(record.args)
            if isinstance(args[1], httpx.URL | str):
                args[1] = redact_url(args[1])
                record.args = tuple(args)
        return True


_FILTER = _RedactHttpxUrls()


def install_log_redaction() -> None:
    """Attach the URL-redacting filter to httpx's logger (idempotent)."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


# --- Request and environment -----------------------------------------------------------------
@dataclass(frozen=True)
class SourceRequest:
    """The validated input as the sources need it, with the fetch time fixed once."""

    categories: list[str]
    time_range: str
    max_results: int
    now: datetime
    region_code: str | None = None
    woeid: int | None = None
    feed_urls: list[str] | None = None

    @property
    def since(self) -> datetime:
        return self.now - TIME_RANGES[self.time_range]


@dataclass
class SourceResult:
    """Trends from one platform, plus errors of its parts that failed (a feed, a category)."""

    trends: list[Trend] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)


@dataclass
class SourceEnv:
    """What a source may use: the shared HTTP client (platform APIs), the guarded client for
    URLs from input or third parties (feeds: `skills.net.http`), settings, the rate limiter."""

    http: httpx.AsyncClient
    settings: TrendsSettings
    limiter: RateLimiter | None = None
    untrusted_http: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        install_log_redaction()  # before the first request: httpx logs each URL

    @property
    def timeout(self) -> float:
        return self.settings.trends_http_timeout_s

    def secrets(self) -> list[str | None]:
        s = self.settings
        return [
            v.get_secret_value() if v else None
            for v in (
                s.youtube_api_key,
                s.x_bearer_token,
                s.tiktok_client_key,
                s.tiktok_client_secret,
            )
        ]

    async def acquire(self, bucket: str, limit: Limit, cost: int = 1) -> None:
        """Wait for a slot; a wait longer than the configured maximum fails as RATE_LIMITED."""
        if self.limiter is None:
            return
        max_wait = self.settings.trends_limiter_max_wait_s
        try:
            await asyncio.wait_for(self.limiter.acquire(bucket, limit, cost), max_wait + 1.0)
        except TimeoutError:
            raise TransientError(
                f"no rate-limit slot for {bucket} within {max_wait:.0f}s",
                code="RATE_LIMITED",
                details={"bucket": bucket},
                retry_after=max_wait,
            ) from None
        except (TransientError, asyncio.CancelledError):
            raise
        except (OSError, RuntimeError) as exc:  # limiter's database unreachable
            raise TransientError(
                f"rate limiter unavailable: {type(exc).__name__}", code="LIMITER_UNAVAILABLE"
            ) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("asyncpg"):
                raise TransientError(
                    f"rate limiter unavailable: {type(exc).__name__}", code="LIMITER_UNAVAILABLE"
                ) from exc
            raise

    async def hold(self, bucket: str, seconds: float | None) -> None:
        """Tell every process to leave `bucket` alone for `seconds` (best effort)."""
        if self.limiter is None or not seconds or seconds <= 0:
            return
        try:
            await self.limiter.hold(bucket, seconds)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not hold %s for %.0fs", bucket, seconds, exc_info=True)


# --- Status mapping -------------------------------------------------------------------------
def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or X's rate-limit reset headers."""
    return retry_after_seconds(response, now.timestamp() if now is not None else None)


def status_error(
    env: SourceEnv,
    platform: str,
    response: httpx.Response,
    *,
    code: str,
    message: str,
    reason: str | None = None,
) -> Exception:
    """The generic mapping of a failed status, for reasons a platform module did not claim."""
    status = response.status_code
    text = scrub(message, env.secrets())[:500]
    details: dict[str, Any] = {
        "platform": platform,
        "status": status,
        "url": redact_url(response.request.url),
    }
    if reason:
        details["reason"] = reason
    if status == 429:
        return TransientError(
            f"{platform}: rate limited: {text}",
            code="RATE_LIMITED",
            details=details,
            retry_after=retry_after(response),
        )
    if status >= 500:
        return TransientError(
            f"{platform}: server error {status}: {text}",
            code="UPSTREAM_UNAVAILABLE",
            details=details,
            retry_after=retry_after(response),
        )
    if status in (401, 403):
        return PermanentError(
            f"{platform}: credential refused ({status}): {text}",
            code="AUTH_FAILED",
            details=details,
        )
    return PermanentError(
        f"{platform}: request refused ({status}): {text}", code=code, details=details
    )


def malformed(platform: str, what: str, response: httpx.Response) -> UnknownError:
    return UnknownError(
        f"{platform}: unexpected response: {what}",
        code="MALFORMED_RESPONSE",
        details={
            "platform": platform,
            "status": response.status_code,
            "url": redact_url(response.request.url),
        },
    )


def as_count(value: Any) -> int:
    """A platform count (YouTube sends strings) as a non-negative int; missing is 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str | float):
        try:
            return max(int(float(value)), 0)
        except (ValueError, OverflowError):  # "n/a", "inf"
            return 0
    return 0


def clip(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def stable_id(platform: str, raw: str) -> str:
    """`platform:raw`, or `platform:sha256` when raw is too long for the 255-character key."""
    candidate = f"{platform}:{raw}"
    if len(candidate) <= 255:
        return candidate
    return f"{platform}:{hashlib.sha256(raw.encode()).hexdigest()}"


def interleave(lists: list[list[Trend]]) -> list[Trend]:
    """Round-robin over ranked lists: first of each, then second of each, and so on."""
    merged: list[Trend] = []
    for rank in range(max((len(x) for x in lists), default=0)):
        merged.extend(x[rank] for x in lists if rank < len(x))
    return merged
