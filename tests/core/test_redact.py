"""PII and secrets are masked before anything is stored or logged; ordinary data is not."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.redact import MASK, is_card_number, is_iban, is_secret_name, redact

# (text, what must not survive, the mask that replaces it)
MASKED = [
    ("write to ann.lee+news@example.co.uk today", "ann.lee", "[EMAIL]"),
    ("call +44 20 7946 0958", "7946", "[PHONE]"),
    ("call (555) 123-4567", "123-4567", "[PHONE]"),
    ("call 555.123.4567", "123.4567", "[PHONE]"),
    ("UK office 020 7946 0958", "7946 0958", "[PHONE]"),
    ("mobile 07700 900123 after six", "900123", "[PHONE]"),
    ("Berlin 030 12345678", "12345678", "[PHONE]"),
    ("Paris 01 23 45 67 89", "45 67 89", "[PHONE]"),
    ("Authorization: Bearer abc.def-ghi_jkl", "abc.def", MASK),
    ("GET /v3/videos?part=id&key=AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSy", MASK),
    ("key sk-proj-0123456789abcdefghij", "sk-proj", MASK),
    ("token ghp_0123456789abcdefghij0123", "ghp_", MASK),
    ("aws AKIAABCDEFGHIJKLMNOP", "AKIAAB", MASK),
    ("jwt eyJhbGciOiJI.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2Q", "eyJhbG", MASK),
    ("paid with 4111 1111 1111 1111 yesterday", "1111 1111", "[CARD]"),
    ("card 5555555555554444", "5555555555554444", "[CARD]"),
    ("amex 3782-822463-10005", "822463", "[CARD]"),
    ("ssn 123-45-6789 on file", "6789", "[SSN]"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "WEST 1234", "[IBAN]"),
    ("to DE89370400440532013000 please", "DE8937", "[IBAN]"),
    ("client 81.2.69.160 asked", "81.2.69.160", "[IP]"),
    ("from 2a00:1450:4001:81b::200e", "2a00:1450", "[IP]"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrX", MASK),
    ("AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==;EndpointSuffix=x", "Zm9vYm", MASK),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN", "11ABCD", MASK),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "xoxb-1234", MASK),
    ("hook https://hooks.slack.com/services/T000/B000/XXXXXXXX", "T000/B000", MASK),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39H", MASK),
    ("stripe rk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39H", MASK),
    ("X-Api-Key: abc123secret", "abc123secret", MASK),
    ("x-goog-api-key: AbCd1234", "AbCd1234", MASK),
    ('{"user": "ann", "password": "hunter2"}', "hunter2", MASK),
    ('body: {"refresh_token": "1//0gAbC", "n": 1}', "1//0gAbC", MASK),
    ("grant_type=refresh_token&refresh_token=1//0gabc&client_secret=GOCSPX-x", "0gabc", MASK),
    ("client_secret=GOCSPX-abcdef&code=xyz", "GOCSPX", MASK),
    ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw", MASK),
    ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv", MASK),
]

# Texts that must come back exactly as they are.
UNCHANGED = [
    "Basic Photography Tutorial for Beginners",
    "Bearer Market Outlook for 2026",
    "Token Economy Explained",
    "Basic Instinct (1992) review",
    "Password: The Movie",
    "The key to success: consistency",
    "feed:item-123",
    "yt:dQw4w9WgXcQ",
    "7f0ecc98-5173-5ccb-a0df-73997f22b268",
    "2026-11-25",
    "2026-11-25T12:00:00Z",
    "12:30:45",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "1862345678901234567",  # an X post id
    "7301234567890123456",  # a TikTok video id
    "123456",
    "views 1204331, likes 20431",
    "https://example.org/watch?v=abc123&t=42",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "refused 'http://10.0.0.5/': 10.0.0.5 resolves to 10.0.0.5: private",
    "127.0.0.1:9092",
    "order 4111 1111 1111 1112",  # fails the Luhn check
    "GB82 WEST 1234 5698 7654 33",  # fails the IBAN checksum
    "Top 10 AI tools of 2026",
    "Episode 2 of 10, season 3",
]


@pytest.mark.parametrize(("text", "leaked", "mask"), MASKED)
def test_text_is_masked(text: str, leaked: str, mask: str) -> None:
    masked = redact(text)
    assert leaked not in masked and mask in masked, masked


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text) == text


def test_secret_keys_are_masked_at_any_depth_and_data_is_left_alone() -> None:
    data = {
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "k1"},
        "client_secret": "s3",
        "refresh_token": "r1",
        "password": "p",
        "youtube_api_key": "k3",
        "items": [{"api_key": "k2", "trend_id": "feed:123", "views": 123456}],
        "id": "7f0ecc98-5173-5ccb-a0df-73997f22b268",
        "when": "2026-11-25T12:00:00Z",
        "max_tokens": 100,
        "partition_key": "content-1",
        "empty_token": None,
    }
    masked = redact(data)
    assert masked["headers"] == {"Authorization": MASK, "X-Api-Key": MASK}
    assert masked["client_secret"] == masked["refresh_token"] == masked["password"] == MASK
    assert masked["youtube_api_key"] == MASK
    assert masked["items"] == [{"api_key": MASK, "trend_id": "feed:123", "views": 123456}]
    assert masked["id"] == data["id"] and masked["when"] == data["when"]
    assert masked["max_tokens"] == 100 and masked["partition_key"] == "content-1"
    assert masked["empty_token"] is None
    assert data["password"] == "p"  # a copy: the input is not changed


def test_json_held_in_a_string_keeps_its_shape() -> None:
    text = json.dumps({"request": {"access_token": "ya29.abc", "title": "Basic Cooking"}})
    out = json.loads(redact(text))
    assert out == {"request": {"access_token": MASK, "title": "Basic Cooking"}}


def test_one_list_of_secret_names() -> None:
    for name in ("client_secret", "X-Api-Key", "refresh_token", "youtube_api_key", "key"):
        assert is_secret_name(name), name
    for name in ("trend_id", "max_tokens", "partition_key", "title", "monkey"):
        assert not is_secret_name(name), name


def test_checksums() -> None:
    assert is_card_number("4111111111111111") and not is_card_number("4111111111111112")
    assert not is_card_number("1862345678901234567")  # no brand starts with 1
    assert is_iban("GB82WEST12345698765432") and not is_iban("GB82WEST12345698765433")


_VOCABULARY = (
    "basic bearer token Basic Bearer Token key session secret password How to the for AI "
    "Tutorial Photography Beginners 2026 top 10 review news - : | ( ) Cats Music Live Best "
    "of vs Part 2 new update trailer recipe"
)
_WORDS = st.sampled_from(_VOCABULARY.split())
_IDS = st.one_of(
    st.uuids().map(str),
    st.binary(min_size=16, max_size=32).map(bytes.hex),
    st.from_regex(r"(feed|youtube|tiktok|x):[a-z0-9-]{3,20}", fullmatch=True),
    st.from_regex(r"1[0-9]{18}", fullmatch=True),  # X snowflakes
    st.from_regex(r"7[0-9]{18}", fullmatch=True),  # TikTok ids
    st.from_regex(r"[A-Za-z0-9_-]{11}", fullmatch=True),  # YouTube ids
    st.integers(min_value=0, max_value=10**9).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=12).map(" ".join))
def test_random_titles_come_back_unchanged(title: str) -> None:
    assert redact(title) == title


@settings(max_examples=300, deadline=None)
@given(_IDS)
def test_random_ids_come_back_unchanged(value: str) -> None:
    assert redact(value) == value
    assert redact({"id": value, "trend_id": value}) == {"id": value, "trend_id": value}


def test_uuid_hex_forms_are_not_cards() -> None:
    for _ in range(200):
        value = uuid.uuid4().hex
        assert redact(value) == value
