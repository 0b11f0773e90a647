"""Settings of the script writer: an optional OpenAI-compatible chat-completions backend.

| Variable               | Meaning                                                             |
|------------------------|---------------------------------------------------------------------|
| CHIMERA_LLM_BASE_URL   | e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1         |
| CHIMERA_LLM_API_KEY    | bearer key (secret); local servers accept any non-empty value       |
| CHIMERA_LLM_MODEL      | model name sent in the request (default gpt-4o-mini)                |
| CHIMERA_LLM_TIMEOUT_S  | request timeout; on timeout the template writer is used             |

Both the base URL and the key must be set for the LLM to be used; otherwise the deterministic
template writer is. Composition roots hand it to the skill in `SkillContext.settings.script`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScriptSettings(BaseSettings):
    """Configuration of `skill_write_script`; the key is a `SecretStr` and never logged."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=".env", extra="ignore")

    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_temperature: float = Field(default=0.7, ge=0, le=2)
    llm_max_tokens: int = Field(default=900, ge=100, le=8000)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_api_key and self.llm_api_key.get_secret_value())
