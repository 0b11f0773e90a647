"""Pure helpers of the publishing skills: settings, wait parsing, post text."""

from __future__ import annotations

import email.utils

import httpx
import pytest
from pydantic import ValidationError as PydanticValidationError

from core.errors import ValidationError
from skills.base import REGISTRY
from skills.http import retry_after_seconds
from skills.publish.text import compose_text, x_weighted_length
from skills.settings.publish import PublishSettings


def test_skills_are_registered():
    for name in ("skill_publish_content", "skill_fetch_engagement", "skill_find_publication"):
        assert name in REGISTRY and REGISTRY[name].description


def test_settings_read_credentials_from_the_environment_only(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("YOUTUBE", "TIKTOK", "X"):
        monkeypatch.delenv(f"CHIMERA_{name}_ACCESS_TOKEN", raising=False)
    (tmp_path / ".env").write_text("CHIMERA_X_ACCESS_TOKEN=from-dotenv\n")
    monkeypatch.setenv("CHIMERA_YOUTUBE_ACCESS_TOKEN", "env-youtube-token")
    monkeypatch.setenv("CHIMERA_PUBLISH_DIR", str(tmp_path / "pub"))
    settings = PublishSettings()
    assert settings.youtube_access_token is not None
    assert settings.youtube_access_token.get_secret_value() == "env-youtube-token"
    assert settings.x_access_token is None  # .env files are not read for credentials
    assert "env-youtube-token" not in repr(settings) and "env-youtube-token" not in str(settings)
    assert settings.local_dir(tmp_path / "state") == tmp_path / "pub"
    assert PublishSettings(publish_dir=None).local_dir(tmp_path / "s") == tmp_path / "s" / "publish"


def test_settings_keep_documented_chunk_limits():
    assert PublishSettings().youtube_chunk_size % (256 * 1024) == 0
    with pytest.raises(PydanticValidationError):
        PublishSettings(youtube_chunk_size=300_000)
    with pytest.raises(PydanticValidationError):
        PublishSettings(tiktok_chunk_size=1024)
    with pytest.raises(PydanticValidationError):
        PublishSettings(x_chunk_size=6 * 1024 * 1024)


def _response(status: int = 429, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_parsing():
    now = 1_764_000_000.0
    assert retry_after_seconds(_response(**{"Retry-After": "17"}), now) == 17
    date = email.utils.formatdate(now + 120, usegmt=True)
    assert retry_after_seconds(_response(**{"Retry-After": date}), now) == pytest.approx(120)
    assert retry_after_seconds(_response(**{"x-rate-limit-reset": str(int(now) + 40)}), now) == 40
    capped = _response(
        **{
            "x-rate-limit-remaining": "12",
            "x-rate-limit-reset": str(now + 40),
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(now + 7200),
        }
    )
    assert retry_after_seconds(capped, now) == 7200  # the daily cap, not the 15-minute window
    assert retry_after_seconds(_response(200), now) is None
    assert retry_after_seconds(_response(**{"x-rate-limit-reset": str(now - 5)}), now) == 0


def test_x_weighted_length_counts_like_x():
    assert x_weighted_length("hello") == 5
    assert x_weighted_length("界界") == 4
    assert x_weighted_length("see https://example.com/a/very/long/path/indeed") == 4 + 23


def test_compose_text_fits_what_it_can():
    assert (
        compose_text("Title", "Body", ["a b", "#c", "!!"], limit=100, platform="p")
        == "Title\n\nBody\n\n#AB #c"
    )
    assert compose_text("Title", "x" * 200, ["tag"], limit=20, platform="p") == "Title\n\n#tag"
    with pytest.raises(ValidationError):
        compose_text("x" * 30, "", [], limit=20, platform="p")
