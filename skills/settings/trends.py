"""Settings of the trend fetcher: platform credentials (environment only) and source options.

Every variable has the `CHIMERA_` prefix, like the rest of Chimera's settings:

| Variable                              | Meaning                                                  |
|---------------------------------------|----------------------------------------------------------|
| CHIMERA_YOUTUBE_API_KEY               | YouTube Data API v3 key (secret)                         |
| CHIMERA_YOUTUBE_REGION_CODE           | ISO 3166-1 region of the mostPopular chart (default US)  |
| CHIMERA_YOUTUBE_DAILY_UNITS           | the project's daily quota budget (default 10,000)        |
| CHIMERA_X_BEARER_TOKEN                | X API v2 app bearer token (secret)                       |
| CHIMERA_X_WOEID                       | where-on-earth id of the trends location (1 = worldwide) |
| CHIMERA_TIKTOK_CLIENT_KEY / _SECRET   | TikTok Research API client (secret), if eligible         |
| CHIMERA_TIKTOK_REGION_CODES           | JSON list of region codes for the Research API query     |
| CHIMERA_TRENDS_FEED_URLS              | JSON list of feeds (http(s) URLs or local paths)         |
| CHIMERA_TRENDS_FEED_ROOTS             | JSON list of directories an input's local feed may be in |

Feed URLs go through the SSRF guard: internal feed hosts are allowed by `CHIMERA_SSRF_ALLOWED_HOSTS`
(`skills/settings/media.py`), the one allowlist of every guarded fetch.

Composition roots read it once and hand it to the skill in `SkillContext.settings.trends`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "trends" / "samples"
SAMPLE_FEED = SAMPLES_DIR / "sample_feed.jsonl"


class TrendsSettings(BaseSettings):
    """Configuration of `skill_fetch_trends`; secrets are `SecretStr` and never logged."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=".env", extra="ignore")

    # YouTube Data API v3
    youtube_api_key: SecretStr | None = None
    youtube_base_url: str = "https://www.googleapis.com/youtube/v3"
    youtube_region_code: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    youtube_daily_units: int = Field(default=10_000, ge=1)

    # X API v2
    x_bearer_token: SecretStr | None = None
    x_base_url: str = "https://api.x.com"
    x_woeid: int = Field(default=1, ge=1)

    # TikTok Research API (only for eligible researchers)
    tiktok_client_key: SecretStr | None = None
    tiktok_client_secret: SecretStr | None = None
    tiktok_base_url: str = "https://open.tiktokapis.com"
    tiktok_region_codes: list[str] = Field(default_factory=lambda: ["US"])

    # Feeds (RSS, RDF, Atom, JSON Feed, JSON lines): the offline default is the bundled sample.
    trends_feed_urls: list[str] = Field(default_factory=lambda: [str(SAMPLE_FEED)])
    trends_feed_roots: list[Path] = Field(default_factory=lambda: [SAMPLES_DIR])
    trends_feed_max_bytes: int = Field(default=5_000_000, ge=1_000)

    # Shared
    trends_http_timeout_s: float = Field(default=15.0, gt=0)
    trends_limiter_max_wait_s: float = Field(
        default=120.0,
        ge=0,
        description="Longest wait for a local rate-limit slot before failing as RATE_LIMITED.",
    )
    trends_snapshot_retention_days: int = Field(default=35, ge=1)
