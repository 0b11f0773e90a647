"""PII and secrets are masked before anything is stored or logged."""

from __future__ import annotations

import pytest

from core.redact import redact


@pytest.mark.parametrize(
    ("text", "leaked", "mask"),
    [
        ("write to ann.lee+news@example.co.uk today", "ann.lee", "[EMAIL]"),
        ("call +44 20 7946 0958", "7946", "[PHONE]"),
        ("call (555) 123-4567", "123-4567", "[PHONE]"),
        ("call 555.123.4567", "123.4567", "[PHONE]"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def", "[REDACTED]"),
        (
            "GET /v3/videos?part=id&key=AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "AIzaSy",
            "[REDACTED]",
        ),
        ("key sk-proj-0123456789abcdefghij", "sk-proj", "[REDACTED]"),
        ("token ghp_0123456789abcdefghij0123", "ghp_", "[REDACTED]"),
        ("aws AKIAABCDEFGHIJKLMNOP", "AKIAAB", "[REDACTED]"),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2Q", "eyJhbG", "[REDACTED]"),
    ],
)
def test_text_is_masked(text: str, leaked: str, mask: str) -> None:
    masked = redact(text)
    assert leaked not in masked and mask in masked


def test_secret_keys_are_masked_at_any_depth_and_data_is_left_alone() -> None:
    data = {
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "k1"},
        "client_secret": "s3",
        "refresh_token": "r1",
        "password": "p",
        "items": [{"api_key": "k2", "trend_id": "feed:123", "views": 123456}],
        "id": "7f0ecc98-5173-5ccb-a0df-73997f22b268",
        "when": "2026-11-25T12:00:00Z",
        "empty_token": None,
    }
    masked = redact(data)
    assert masked["headers"] == {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]"}
    assert masked["client_secret"] == masked["refresh_token"] == masked["password"] == "[REDACTED]"
    assert masked["items"] == [{"api_key": "[REDACTED]", "trend_id": "feed:123", "views": 123456}]
    assert masked["id"] == data["id"] and masked["when"] == data["when"]
    assert masked["empty_token"] is None
    assert data["password"] == "p"  # a copy: the input is not changed
