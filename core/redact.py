"""Remove PII and secrets from data before it is stored or logged (audit data above all).

What goes: e-mail addresses, phone numbers, bearer/basic credentials, values of keys that
name secrets (authorization, password, token, api_key, secret, cookie, ...), secret-looking
query parameters (`key=`, `access_token=`, ...), and well-known API key shapes.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(?i)^(authorization|proxy-authorization|cookie|set-cookie|password|passwd|pwd|secret|"
    r"client_secret|token|access_token|refresh_token|id_token|api[-_]?key|apikey|x-api-key|"
    r"private[-_]?key|session|credentials?|key)$|(?i:(secret|password|token|api[-_]?key)$)"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization header values and bearer tokens anywhere in text.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # Secrets in query strings: ?key=...&access_token=...
    (
        re.compile(
            r"(?i)([?&](?:key|api_key|apikey|access_token|token|client_secret|sig|"
            r"signature|password)=)[^&#\s]+"
        ),
        r"\1" + MASK,
    ),
    # Well-known key shapes: Google API keys, OpenAI-style keys, GitHub tokens, AWS ids, JWTs.
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MASK),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), MASK),
    # E-mail addresses.
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
    # Phone numbers: international (+ then 8-15 digits with separators) or the NANP shape
    # (555) 123-4567. Plain digit runs and ISO dates (2026-11-25) are left alone.
    (re.compile(r"(?<![\w+])\+\d[\d\s().-]{6,}\d(?!\w)"), "[PHONE]"),
    (re.compile(r"(?<![\w-])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w-])"), "[PHONE]"),
]


def _phone_like(match: re.Match[str]) -> bool:
    return 8 <= sum(ch.isdigit() for ch in match.group(0)) <= 15


# Cheap gate: a string none of whose characters could start a match is returned as is
# (most audit strings are ids and words; the full patterns run only on the rest).
_SUSPECT = re.compile(
    r"@|\+\d|\(\d{3}\)|\d{3}[\s.-]\d{3}[\s.-]\d{4}|(?i:bearer|basic|token)"
    r"|[?&][A-Za-z_]+=|AIza|sk-|gh[pousr]_|AKIA|eyJ"
)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    if not _SUSPECT.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        if replacement == "[PHONE]":
            text = pattern.sub(lambda m: "[PHONE]" if _phone_like(m) else m.group(0), text)
        else:
            text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like data) with PII and secrets masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (
                MASK if isinstance(k, str) and _secret_key(k) and v not in (None, "") else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if hasattr(value, "model_dump"):
        return redact(value.model_dump(mode="json"))
    return value
