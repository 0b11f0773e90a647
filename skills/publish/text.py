"""Composing post text (caption, tweet) from title, description and tags within a limit."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.errors import ValidationError
from skills.text import hashtag

_URL = re.compile(r"https?://\S+")
# twitter-text v3: these code point ranges weigh 1, everything else 2; URLs weigh 23.
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def x_weighted_length(text: str) -> int:
    """Length of a post as X counts it (twitter-text v3 weights; URLs count 23)."""
    total = 0
    position = 0
    for match in _URL.finditer(text):
        total += _weigh(text[position : match.start()]) + 23
        position = match.end()
    return total + _weigh(text[position:])


def _weigh(text: str) -> int:
    return sum(1 if any(lo <= ord(ch) <= hi for lo, hi in _LIGHT) else 2 for ch in text)


def compose_text(
    title: str,
    description: str,
    tags: list[str],
    *,
    limit: int,
    length: Callable[[str], int] = len,
    platform: str,
) -> str:
    """Title, then the description if it fits, then as many hashtags as fit.

    Tags are written as `skills.text.hashtag` writes them ("deep learning" -> #DeepLearning);
    a tag with no letter or digit is skipped.
    """
    if length(title) > limit:
        raise ValidationError(
            f"{platform}: title is longer than {limit} characters",
            code="TITLE_TOO_LONG",
            details={"platform": platform},
        )
    text = title
    if description:
        candidate = f"{text}\n\n{description}"
        if length(candidate) <= limit:
            text = candidate
    separator = "\n\n"
    for tag in tags:
        word = hashtag(tag)
        if word is None:
            continue
        candidate = f"{text}{separator}{word}"
        if length(candidate) <= limit:
            text = candidate
            separator = " "
    return text
