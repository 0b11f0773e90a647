"""Input and output of `skill_write_script`: a trend in, a short-video script out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.trend import Trend
from skills.base import SkillInput, SkillOutput

MAX_DURATION_S = 60
WORDS_PER_SECOND = 2.5
"""Narration pace used to estimate duration: 150 words a minute, a brisk short-video read."""

Writer = Literal["template", "llm"]


class WriteScriptInput(SkillInput):
    """A trend (as `skill_fetch_trends` returns it) and, optionally, a reference transcript."""

    trend: Trend
    transcript: str | None = Field(
        default=None,
        max_length=100_000,
        description="Transcript of a reference video (e.g. from skill_transcribe_audio); "
        "used for key points, never copied at length.",
    )
    target_duration_s: int = Field(default=45, ge=10, le=MAX_DURATION_S)
    language: str = Field(
        default="en",
        pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
        description="Language of the script (the template writes English).",
    )
    writer: Literal["auto", "template"] = Field(
        default="auto", description="auto: the LLM when configured, else the template."
    )

    @field_validator("trend", mode="before")
    @classmethod
    def _trend_from_json(cls, value: Any) -> Any:
        # Trend is strict; a trend that came through JSON has its timestamp as a string.
        if isinstance(value, dict):
            return Trend.model_validate(value, strict=False)
        return value


class Script(BaseModel):
    """A short-video script: spoken hook, body lines and call to action, plus publishing text.

    `estimated_duration_s` is the spoken word count at `WORDS_PER_SECOND`; it never exceeds
    `target_duration_s`, which never exceeds 60 seconds.
    """

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=100)
    hook: str = Field(min_length=1)
    body: list[str] = Field(min_length=1)
    call_to_action: str = Field(min_length=1)
    description: str = Field(default="", max_length=5000)
    hashtags: list[str] = Field(default_factory=list, max_length=10)
    target_duration_s: int = Field(ge=1, le=MAX_DURATION_S)
    estimated_duration_s: float = Field(ge=0, le=MAX_DURATION_S)
    word_count: int = Field(ge=0)

    @property
    def lines(self) -> list[str]:
        """What is spoken, in order."""
        return [self.hook, *self.body, self.call_to_action]

    @property
    def narration(self) -> str:
        return "\n".join(self.lines)


class WriteScriptOutput(SkillOutput):
    """The script, which writer produced it, and why the template was used if the LLM failed."""

    script: Script | None = None
    trend_id: str | None = None
    writer: Writer | None = None
    model: str | None = Field(default=None, description="The LLM's model, when it wrote.")
    fallback_reason: str | None = Field(
        default=None, description="Why the configured LLM was not used (e.g. LLM_TIMEOUT)."
    )
