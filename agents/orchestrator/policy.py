"""The orchestrator's policy: which trends deserve content, where and when it goes.

Pure decisions over plain values; the handlers fetch the facts (recent topics, budget used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.retry import RetryPolicy
from events import Trend
from events.catalog import PublishPlatform, VideoFormat

Approval = Literal["auto", "required"]


class Policy(BaseSettings):
    """Configured with CHIMERA_POLICY_* variables (lists and dicts as JSON)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_POLICY_", extra="ignore")

    min_velocity: float = Field(default=0.0, description="Views/hour a trend needs.")
    allow_tags: list[str] = Field(default_factory=list, description="Empty: every tag.")
    deny_tags: list[str] = Field(default_factory=list)
    topic_cooldown_hours: float = Field(default=24.0, ge=0)
    platforms: list[PublishPlatform] = Field(
        default_factory=lambda: list[PublishPlatform](["local"])
    )
    daily_budget: dict[str, int] = Field(
        default_factory=lambda: {"local": 1000, "youtube": 6, "tiktok": 10, "twitter": 50},
        description="Pieces of content per platform per UTC day.",
    )
    publish_delay_seconds: int = Field(default=0, ge=0)
    max_generate_attempts: int = Field(default=3, ge=1)
    max_publish_attempts: int = Field(default=3, ge=1)
    accounts: dict[str, str] = Field(
        default_factory=dict,
        description="Platform -> the connected account its publications use (JSON); "
        "unset: the platform's only account.",
    )
    style: str = "explainer"
    format: VideoFormat = "vertical"
    approval: dict[str, Approval] = Field(
        default_factory=dict,
        description='Per platform: "auto" publishes ready content, "required" holds it in '
        'awaiting_approval until a person decides, e.g. {"youtube": "required"}.',
    )
    approval_default: Approval = Field(
        default="auto", description="The gate of platforms that `approval` does not name."
    )
    approval_expiry_seconds: float = Field(
        default=172_800.0,
        ge=0,
        description="Content not decided within this long is decided by the expiry "
        "(0: it waits for ever).",
    )
    approval_expiry_action: Literal["reject", "approve"] = Field(
        default="reject", description="What the expiry decides."
    )
    approval_check_seconds: float = Field(
        default=30.0, gt=0, description="How often the orchestrator looks for expired reviews."
    )

    def gate(self, platform: str) -> Approval:
        """Whether content for `platform` waits for a person."""
        return self.approval.get(platform, self.approval_default)

    def split_by_gate(self, platforms: list[str]) -> tuple[list[str], list[str]]:
        """(published at once, held for approval) among `platforms`, in their order."""
        auto = [p for p in platforms if self.gate(p) == "auto"]
        return auto, [p for p in platforms if p not in auto]

    @field_validator("approval")
    @classmethod
    def _known_platforms(cls, value: dict[str, Approval]) -> dict[str, Approval]:
        unknown = sorted(set(value) - set(get_args(PublishPlatform)))
        if unknown:
            raise ValueError(f"no platform {', '.join(unknown)}")
        return value

    @property
    def generate_retry(self) -> RetryPolicy:
        """Generation is tried `max_generate_attempts` times in all, at once each time."""
        return RetryPolicy(
            max_retries=self.max_generate_attempts - 1, base_delay=0.0, max_delay=0.0, jitter=0.0
        )

    @property
    def publish_retry(self) -> RetryPolicy:
        """A failed publication is tried `max_publish_attempts` times in all, 30 s, 60 s, ...
        apart (at most an hour; a platform's Retry-After up to a day is honoured)."""
        return RetryPolicy(
            max_retries=self.max_publish_attempts - 1,
            base_delay=30.0,
            max_delay=3600.0,
            max_retry_after=86_400.0,
        )


@dataclass(frozen=True)
class Decision:
    accept: bool
    reason: str
    platforms: tuple[str, ...] = ()


def decide(
    policy: Policy, trend: Trend, *, topic_recently_covered: bool, used_today: dict[str, int]
) -> Decision:
    """Accept or reject a trend, and pick the platforms that still have budget today."""
    labels = {t.lower() for t in trend.tags} | {trend.topic.lower()}
    if trend.velocity < policy.min_velocity:
        return Decision(False, f"velocity {trend.velocity:g} below {policy.min_velocity:g}")
    denied = labels & {t.lower() for t in policy.deny_tags}
    if denied:
        return Decision(False, f"denied tag(s): {', '.join(sorted(denied))}")
    if policy.allow_tags and not labels & {t.lower() for t in policy.allow_tags}:
        return Decision(False, "no allowed tag")
    if topic_recently_covered:
        return Decision(False, f"topic covered in the last {policy.topic_cooldown_hours:g} h")
    platforms = tuple(
        p for p in policy.platforms if used_today.get(p, 0) < policy.daily_budget.get(p, 0)
    )
    if not platforms:
        return Decision(False, "daily budget used up on every platform")
    return Decision(True, "accepted", platforms)
