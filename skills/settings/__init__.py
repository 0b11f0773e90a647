"""The skills' own settings, one model per skill package, read from `CHIMERA_*` variables.

Composition roots read them once (`SkillSettings.from_environment()`) and hand them to the
skills in `SkillContext.settings`; skills never read the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skills.settings.mcp import McpSettings
from skills.settings.media import MediaSettings
from skills.settings.publish import PublishSettings
from skills.settings.script import ScriptSettings
from skills.settings.trends import TrendsSettings

__all__ = [
    "McpSettings",
    "MediaSettings",
    "PublishSettings",
    "ScriptSettings",
    "SkillSettings",
    "TrendsSettings",
]


@dataclass(frozen=True)
class SkillSettings:
    """Every skill package's settings (each a pydantic-settings model)."""

    media: MediaSettings = field(default_factory=MediaSettings)
    trends: TrendsSettings = field(default_factory=TrendsSettings)
    script: ScriptSettings = field(default_factory=ScriptSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    mcp: McpSettings = field(default_factory=McpSettings)

    @classmethod
    def from_environment(cls) -> SkillSettings:
        """Read every package's settings from the environment now."""
        return cls(
            MediaSettings(), TrendsSettings(), ScriptSettings(), PublishSettings(), McpSettings()
        )
