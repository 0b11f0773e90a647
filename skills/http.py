"""HTTP helpers shared by the skills that talk to platform APIs."""

from __future__ import annotations

import email.utils
import time

import httpx

__all__ = ["retry_after_seconds"]


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
