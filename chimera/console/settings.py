"""The console's own settings (CHIMERA_CONSOLE_*); Kafka and PostgreSQL come from
`core.settings.Settings`, the same as the agents'."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_FILE = "console-session.key"


class ConsoleSettings(BaseSettings):
    """Configured with CHIMERA_CONSOLE_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_CONSOLE_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Where the console listens.")
    port: int = Field(default=8400, ge=0, le=65535, description="0 picks a free port.")
    session_key: SecretStr | None = Field(
        default=None,
        description="Signs the session cookie; unset: generated once into "
        f"<state dir>/{KEY_FILE} (mode 0600).",
    )
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure: set it when the console is behind TLS."
    )
    session_hours: float = Field(default=8.0, gt=0, description="A login lasts this long.")
    login_attempts: int = Field(
        default=5, ge=1, description="Failed logins per name or per client within the window..."
    )
    login_window_seconds: float = Field(
        default=900.0, gt=0, description="...before further attempts wait until it passes."
    )
    refresh_seconds: float = Field(default=5.0, gt=0, description="Live pages refresh this often.")


def session_key(settings: ConsoleSettings, state_dir: Path) -> SecretStr:
    """The configured key, or the one kept in the state dir (created 0600 when absent)."""
    if settings.session_key is not None:
        return settings.session_key
    path = state_dir / KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    os.chmod(path, 0o600)
    return SecretStr(path.read_text().strip())
