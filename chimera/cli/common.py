"""What every `chimera` command shares: settings, and one clear line for expected failures."""

from __future__ import annotations

from typing import Any

import typer
import typer.core
from pydantic import ValidationError as PydanticValidationError

from chimera import package_version
from core.credentials import OPERATOR, as_principal
from core.errors import ChimeraError
from core.settings import Settings

__all__ = ["ErrorsAsOneLine", "load_settings", "package_version"]


class ErrorsAsOneLine(typer.core.TyperGroup):
    """Turns expected failures (ChimeraError) into one clear line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ChimeraError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None


def load_settings(principal: str | None = OPERATOR) -> Settings:
    """The settings from the environment, authenticated as `principal` (the operator tools by
    default; None: as the environment says, e.g. the stack, migrations, the agents, which pick
    their own); invalid ones are one ChimeraError."""
    try:
        settings = Settings()
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ChimeraError(f"invalid settings: {problems}") from exc
    return as_principal(settings, principal) if principal else settings
