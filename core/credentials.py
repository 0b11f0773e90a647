"""Who a process is: the ONE place that maps a principal (an agent, the operator tools, the
console) to its Kafka and PostgreSQL credentials.

A principal has a Kafka user (`chimera-<name>`, SASL/SCRAM) and a PostgreSQL role
(`chimera_<name>`). Where their passwords come from:

* a credentials file (`CHIMERA_CREDENTIALS_FILE`; on the local stack `<state>/credentials.json`,
  written owner-only by `chimera stack up`): every principal's passwords, so one operator's
  machine can run every agent as itself. `as_principal(settings, name)` picks one.
* otherwise the process's own environment: `KAFKA_SASL_USERNAME`/`KAFKA_SASL_PASSWORD` and a
  `DATABASE_URL` naming its role (docker-compose gives each service only its own). Then
  `as_principal` leaves the settings as they are: the environment already says who it is.

The file is JSON, `{"principals": {"<name>": {"kafka_password": ..., "pg_password": ...}}}`;
`admin` is the Kafka super user of the local stack (it creates ACLs), never an agent.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

from core.errors import ConfigError
from core.private import private_dir

if TYPE_CHECKING:
    from core.settings import Settings

#: The local stack's Kafka super user (creates SCRAM users and ACLs); never an agent.
ADMIN = "admin"
#: The ops tools (inject, replay, dead letters, status, offsets, accounts, keys).
OPERATOR = "operator"
#: The SASL mechanism principals authenticate with.
MECHANISM = "SCRAM-SHA-512"


def kafka_user(principal: str) -> str:
    """The Kafka user name of a principal: `chimera-publish`."""
    return f"chimera-{principal}"


def pg_role(principal: str) -> str:
    """The PostgreSQL role of a principal: `chimera_publish`."""
    return f"chimera_{principal}"


class PrincipalSecrets(BaseModel):
    kafka_password: SecretStr
    pg_password: SecretStr


class Credentials(BaseModel):
    """Every principal's passwords (the credentials file)."""

    principals: dict[str, PrincipalSecrets] = {}

    def get(self, principal: str) -> PrincipalSecrets | None:
        return self.principals.get(principal)

    def to_json(self) -> str:
        return json.dumps(
            {
                "principals": {
                    name: {
                        "kafka_password": p.kafka_password.get_secret_value(),
                        "pg_password": p.pg_password.get_secret_value(),
                    }
                    for name, p in sorted(self.principals.items())
                }
            },
            indent=2,
        )


def load(path: Path) -> Credentials | None:
    """The credentials in `path`, None when it does not exist; a bad file is a ConfigError."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"credentials file {path} is readable by others: chmod 600 {path}")
    try:
        return Credentials.model_validate_json(path.read_text())
    except (OSError, PydanticValidationError) as exc:
        raise ConfigError(f"credentials file {path} is unreadable: {type(exc).__name__}") from exc


def ensure(path: Path, principals: list[str]) -> Credentials:
    """Load `path`, adding a random password for each principal it lacks (written 0600)."""
    creds = load(path) or Credentials()
    missing = [p for p in principals if p not in creds.principals]
    if missing or not path.exists():
        for name in missing:
            creds.principals[name] = PrincipalSecrets(
                kafka_password=SecretStr(secrets.token_urlsafe(24)),
                pg_password=SecretStr(secrets.token_urlsafe(24)),
            )
        write_private(path, creds.to_json())
    return creds


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (atomic replace)."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def as_principal(settings: Settings, principal: str) -> Settings:
    """`settings` authenticated as `principal` (see the module docstring for the sources)."""
    path = settings.credentials_path
    creds = load(path) if path is not None else None
    entry = creds.get(principal) if creds is not None else None
    if entry is None:
        return settings
    update: dict[str, object] = {
        "kafka_security_protocol": settings.kafka_security_protocol or "SASL_PLAINTEXT",
        "kafka_sasl_mechanism": MECHANISM,
        "kafka_sasl_username": kafka_user(principal),
        "kafka_sasl_password": entry.kafka_password,
        "principal": principal,
    }
    if principal != ADMIN:
        update["database_url"] = SecretStr(
            with_user(settings.dsn(), pg_role(principal), entry.pg_password.get_secret_value())
        )
    return settings.model_copy(update=update)


def process_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to connect exactly as `settings` do (Kafka
    security and user, database URL, credentials file): what `chimera demo` gives each agent."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": settings.security_protocol,
        "DATABASE_URL": settings.dsn(),
        "CHIMERA_TOPIC_PREFIX": settings.topic_prefix,
    }
    if settings.kafka_sasl_mechanism:
        env["KAFKA_SASL_MECHANISM"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        env["KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        env["KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.credentials_file is not None:
        env["CHIMERA_CREDENTIALS_FILE"] = str(settings.credentials_file)
    if settings.secret_key is not None:
        env["CHIMERA_SECRET_KEY"] = settings.secret_key.get_secret_value()
    elif settings.secret_key_path is not None:
        # The key file in force, the local stack's too: the child is given the URLs above, so
        # it would not know it runs on the local stack and look for `<state>/secret.key`.
        env["CHIMERA_SECRET_KEY_FILE"] = str(settings.secret_key_path)
    return env


def with_user(dsn: str, user: str, password: str | None) -> str:
    """`dsn` with its user (and password) replaced."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))
