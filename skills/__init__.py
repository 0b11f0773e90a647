"""Chimera's skills: capabilities the agents call, each behind the specification's standard.

`load_all()` imports every skill module so that `skills.base.REGISTRY` is complete.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from skills.base import REGISTRY, BoundSkills, SkillContext, SkillSpec

__all__ = ["REGISTRY", "BoundSkills", "SkillContext", "SkillSpec", "load_all", "skill_settings"]


def load_all() -> dict[str, SkillSpec]:  # type: ignore[type-arg]
    """Import every module under `skills/` (each registers its skills) and return the registry."""
    for module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        importlib.import_module(module.name)
    return REGISTRY


def skill_settings() -> dict[str, Any]:
    """Each skill package's settings, read from the environment once (composition roots put
    them in `SkillContext.extras`, so skills do not re-read the environment per call)."""
    from skills.media.config import SETTINGS_KEY as MEDIA
    from skills.media.config import MediaSettings
    from skills.publish.config import PublishSettings
    from skills.script.config import SETTINGS_KEY as SCRIPT
    from skills.script.config import ScriptSettings
    from skills.trends.config import SETTINGS_KEY as TRENDS
    from skills.trends.config import TrendsSettings

    return {MEDIA: MediaSettings(), "publish_settings": PublishSettings(),
            SCRIPT: ScriptSettings(), TRENDS: TrendsSettings()}
