"""Chimera's skills: capabilities the agents call, each behind the specification's standard.

`load_all()` imports every skill module so that `skills.base.REGISTRY` is complete.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from skills.base import REGISTRY, SkillSpec

__all__ = ["REGISTRY", "SkillSpec", "load_all"]


def load_all() -> dict[str, SkillSpec[Any, Any]]:
    """Import every module under `skills/` (each registers its skills) and return the registry."""
    for module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        importlib.import_module(module.name)
    return REGISTRY
