"""Setting up least privilege on a deployment whose credentials come from the environment
(docker-compose's one-shot `access` service: `chimera access apply`).

The local stack keeps every principal's passwords in its credentials file; a deployment gives
them as environment variables instead, one per principal: `CHIMERA_<PRINCIPAL>_PASSWORD` is that
principal's Kafka SCRAM password and its PostgreSQL role's password (`SecretStr`, never logged).
`apply` then, as the broker's super user and the database's owner:

* creates the SCRAM-SHA-512 user `chimera-<principal>` of every principal that has a password;
* creates the ACL matrix of `CHIMERA_TOPIC_PREFIX` (`chimera.access.kafka.matrix`);
* gives each role `chimera_<principal>` LOGIN and its password (the grants themselves come from
  the migrations, `core.grants`).

Idempotent: run it after every deployment change.
"""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chimera.access import PRINCIPALS
from chimera.access import kafka as kafka_access
from core import grants
from core.credentials import kafka_user, pg_role
from core.errors import ConfigError
from core.settings import Settings


class PrincipalPasswords(BaseSettings):
    """`CHIMERA_<PRINCIPAL>_PASSWORD` for every principal (environment only, never `.env`)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=None, extra="ignore")

    research_password: SecretStr | None = None
    orchestrator_password: SecretStr | None = None
    generate_password: SecretStr | None = None
    publish_password: SecretStr | None = None
    audit_password: SecretStr | None = None
    operator_password: SecretStr | None = None

    def of(self) -> dict[str, str]:
        """principal -> password, for the principals that have one."""
        out: dict[str, str] = {}
        for principal in PRINCIPALS:
            value: SecretStr | None = getattr(self, f"{principal}_password")
            if value is not None and value.get_secret_value():
                out[principal] = value.get_secret_value()
        return out


def apply(settings: Settings, passwords: dict[str, str]) -> tuple[int, int, int]:
    """Users, ACLs and role logins (see the module docstring). `settings` authenticate as the
    broker's super user and connect to the database as its owner. Returns (SCRAM users created,
    ACLs sent, roles given a login)."""
    if not passwords:
        raise ConfigError(
            "no principal passwords: set CHIMERA_<PRINCIPAL>_PASSWORD for "
            + ", ".join(PRINCIPALS)
            + " (`chimera access env` prints a set)"
        )
    kafka_users = {kafka_user(p): pw for p, pw in passwords.items()}
    created = kafka_access.ensure_users(settings, kafka_users)
    sent = kafka_access.apply(settings, kafka_access.matrix(settings))
    roles = {pg_role(p): pw for p, pw in passwords.items()}
    asyncio.run(_provision(settings.dsn(), roles))
    return len(created), sent, len(roles)


async def _provision(dsn: str, roles: dict[str, str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in grants.provision_statements(roles):
            await conn.execute(statement)
    finally:
        await conn.close()


def env_file() -> str:
    """A fresh `.env` for docker-compose: every password the deployment needs, and a master key.
    URL-safe (hex), so the passwords can stand in DATABASE_URL as they are."""
    from core.crypto import generate_key

    lines = [
        "# Chimera's secrets for docker-compose (keep this file 0600, out of version control).",
        f"CHIMERA_KAFKA_ADMIN_PASSWORD={secrets.token_hex(24)}",
        f"CHIMERA_PG_OWNER_PASSWORD={secrets.token_hex(24)}",
        *(f"CHIMERA_{p.upper()}_PASSWORD={secrets.token_hex(24)}" for p in PRINCIPALS),
        f"CHIMERA_SECRET_KEY={generate_key()}",
    ]
    return "\n".join(lines) + "\n"
