"""`skills.text`: the one hashtag() (script writer and publishers) and the one parse_time()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from skills.publish.text import compose_text
from skills.script.template import normalise_hashtags
from skills.text import hashtag, parse_time


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("deep learning", "#DeepLearning"),
        ("ai", "#ai"),  # a single word keeps its case
        ("#Covers", "#Covers"),
        ("#holiday music", "#HolidayMusic"),
        ("snake_case words", "#SnakeCaseWords"),  # '_' separates words like a space
        ("C++ & Rust!", "#CRust"),
        ("café crème", "#CaféCrème"),
        ("2025 recap", "#2025Recap"),
        ("x" * 80, "#" + "x" * 50),
        ("", None),
        ("#", None),
        ("!!", None),
        ("_ _", None),
    ],
)
def test_hashtag(text: str, tag: str | None) -> None:
    assert hashtag(text) == tag


def test_script_writer_and_publishers_write_the_same_hashtags() -> None:
    tags = ["deep learning", "ai", "!!", "Deep Learning"]
    assert normalise_hashtags(tags) == ["#DeepLearning", "#ai"]  # de-duplicated ignoring case
    text = compose_text("T", "", tags, limit=100, platform="p")
    assert text == "T\n\n#DeepLearning #ai #DeepLearning"  # a tag giving None is skipped


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02T03:04:05.250Z", datetime(2025, 1, 2, 3, 4, 5, 250_000, tzinfo=UTC)),
        (
            "2025-01-02T05:04:05+02:00",
            datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),  # naive is UTC
        (" 2025-01-02T03:04:05+00:00 ", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("   ", None),
        ("yesterday", None),
        ("2025-13-40T00:00:00Z", None),
        (1735786800, None),
        ({"at": "2025-01-02"}, None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None and parsed.utcoffset() == expected.utcoffset()
