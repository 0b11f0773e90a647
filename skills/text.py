"""Text helpers shared by the skills: hashtags and timestamps as platforms write them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["hashtag", "parse_time"]

_WORD = re.compile(r"[^\W_]+", flags=re.UNICODE)
HASHTAG_MAX = 50


def hashtag(text: str) -> str | None:
    """`#CamelCase` of a phrase, or None when no letter or digit is left.

    The words (runs of letters and digits; a leading '#', spaces, '_' and punctuation separate
    them) are joined with each one's first letter capitalised: "deep learning" -> #DeepLearning.
    A single word keeps its case ("ai" -> #ai). At most 50 characters after the '#'.
    """
    words = _WORD.findall(text.lstrip("#"))
    if not words:
        return None
    joined = words[0] if len(words) == 1 else "".join(w[:1].upper() + w[1:] for w in words)
    return f"#{joined[:HASHTAG_MAX]}"


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp ("2025-01-02T03:04:05Z", "+02:00" offsets) as an aware datetime.

    None when the value is missing, not a string or unparsable; a timestamp without an offset
    is taken as UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())  # 3.11 reads "Z"
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
