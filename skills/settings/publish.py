"""Settings of the publishing skills (environment variables with the `CHIMERA_` prefix).

Credentials come from environment variables only (no `.env` file is read for this class) and
are `SecretStr`, so neither `repr()` nor logging a settings object shows them.
Composition roots read it once and hand it to the skills in `SkillContext.settings.publish`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KIB = 1024
MIB = 1024 * 1024

#: YouTube resumable uploads take chunks in multiples of this size (except the last one).
YOUTUBE_CHUNK_GRANULE = 256 * KIB


class PublishSettings(BaseSettings):
    """Configuration of skill_publish_content / skill_fetch_engagement.

    Environment variables (prefix `CHIMERA_`): `PUBLISH_DIR`, `YOUTUBE_ACCESS_TOKEN`,
    `TIKTOK_ACCESS_TOKEN`, `X_ACCESS_TOKEN`, the `*_ACCOUNT` labels that name rate-limit
    buckets, and the upload/poll tuning knobs below.
    """

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=None, extra="ignore")

    # --- Local publisher --------------------------------------------------------------------
    publish_dir: Path | None = Field(
        default=None, description="Folder of the local publisher; unset: <state_dir>/publish."
    )

    # --- Credentials (OAuth 2.0 user access tokens) ------------------------------------------
    youtube_access_token: SecretStr | None = None
    tiktok_access_token: SecretStr | None = None
    x_access_token: SecretStr | None = None

    # Labels naming the account in rate-limit buckets (never the token itself).
    youtube_account: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    tiktok_account: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    x_account: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$")

    # --- Endpoints (overridable for proxies; tests keep the real ones) -------------------------
    youtube_upload_url: str = "https://www.googleapis.com/upload/youtube/v3/videos"
    youtube_api_url: str = "https://www.googleapis.com/youtube/v3"
    tiktok_api_url: str = "https://open.tiktokapis.com"
    x_api_url: str = "https://api.x.com"

    # --- Upload tuning ---------------------------------------------------------------------
    youtube_chunk_size: int = Field(default=8 * MIB, description="Multiple of 256 KiB.")
    tiktok_chunk_size: int = Field(
        default=10 * MIB, ge=5 * MIB, le=64 * MIB, description="TikTok: 5-64 MB per chunk."
    )
    x_chunk_size: int = Field(default=4 * MIB, ge=1, le=5 * MIB, description="X: <= 5 MB.")
    upload_max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Consecutive failed attempts of one chunk (or status query) before giving up.",
    )

    # --- Processing polls --------------------------------------------------------------------
    tiktok_poll_interval_s: float = Field(default=5.0, ge=0)
    tiktok_max_polls: int = Field(default=60, ge=1)
    x_max_polls: int = Field(default=60, ge=1)
    x_max_check_after_s: float = Field(default=30.0, ge=0)

    # A platform asking us to wait longer than this is not waited for inside the skill call:
    # the error stays transient and says when to come back (details.retry_after_s).
    max_inline_wait_s: float = Field(default=60.0, ge=0)

    @field_validator("youtube_chunk_size")
    @classmethod
    def _youtube_granule(cls, value: int) -> int:
        if value <= 0 or value % YOUTUBE_CHUNK_GRANULE:
            raise ValueError("youtube_chunk_size must be a positive multiple of 256 KiB")
        return value

    def local_dir(self, state_dir: Path) -> Path:
        """The local publisher's folder: the setting, or `<state_dir>/publish`."""
        return self.publish_dir or state_dir / "publish"
