"""Chimera's settings, read from environment variables (and an optional `.env` file).

Settings are built once in a composition root (the CLI, an agent's lifespan, a test fixture)
and passed down explicitly; nothing reads the environment at import time.
Secrets are `SecretStr`: their repr is masked, so logging a `Settings` never leaks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything Chimera can be configured with. See the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="CHIMERA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- Kafka -----------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS", "CHIMERA_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset means the local stack's broker.",
    )
    kafka_security_protocol: KafkaSecurityProtocol | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SECURITY_PROTOCOL"),
        description="Unset: SASL_PLAINTEXT on the local stack's broker, else PLAINTEXT.",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, validation_alias=_env("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=_env("KAFKA_SASL_USERNAME")
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias=_env("KAFKA_SASL_PASSWORD")
    )
    principal: str | None = Field(
        default=None,
        description="Who these settings authenticate as (set by core.credentials.as_principal).",
    )
    credentials_file: Path | None = Field(
        default=None,
        description="Every principal's passwords (JSON, mode 0600); unset on the local stack: "
        "<state_dir>/credentials.json. See core.credentials.",
    )
    kafka_ssl_cafile: Path | None = Field(default=None, validation_alias=_env("KAFKA_SSL_CAFILE"))
    kafka_ssl_certfile: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_CERTFILE")
    )
    kafka_ssl_keyfile: Path | None = Field(default=None, validation_alias=_env("KAFKA_SSL_KEYFILE"))
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_KEY_PASSWORD")
    )
    topic_prefix: str = Field(default="chimera", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    outbox_retention_hours: float = Field(
        default=168.0, gt=0, description="Sent outbox rows are deleted after this long."
    )

    # --- PostgreSQL ------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("DATABASE_URL", "CHIMERA_DATABASE_URL"),
        description="postgresql://user:pass@host:port/db; unset means the local stack's server.",
    )

    # --- Encryption at rest (core.crypto) -----------------------------------------------------
    secret_key: SecretStr | None = Field(
        default=None,
        description="Master key(s), base64 of 32 bytes, comma-separated, the first current.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="File of master keys, one a line, the first current; unset on the local "
        "stack: <state_dir>/secret.key.",
    )

    # --- Local stack (used when the URLs above are unset) ------------------------------------
    state_dir: Path = Field(default=PROJECT_ROOT / ".chimera")
    media_dir: Path | None = None
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int | None = Field(default=None, ge=1, le=65535)
    kafka_data_dir: Path | None = None
    kafka_log_file: Path | None = None
    kafka_heap: str = "1g"
    pg_port: int = Field(default=5433, ge=1, le=65535)
    pg_database: str = Field(default="chimera", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    @field_validator("kafka_bootstrap_servers", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    # --- Derived values ----------------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        """The brokers to talk to: the configured ones, or the local stack's."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def security_protocol(self) -> KafkaSecurityProtocol:
        """The protocol in force: the configured one, or SASL on the local stack's broker."""
        if self.kafka_security_protocol is not None:
            return self.kafka_security_protocol
        return "SASL_PLAINTEXT" if self.uses_local_kafka else "PLAINTEXT"

    @property
    def credentials_path(self) -> Path | None:
        """The credentials file in force (core.credentials): configured, or the local stack's."""
        if self.credentials_file is not None:
            return self.credentials_file
        if self.uses_local_kafka or self.uses_local_postgres:
            return self.state_dir / "credentials.json"
        return None

    @property
    def secret_key_path(self) -> Path | None:
        """The master key file in force (core.crypto): configured, or the local stack's."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        if self.secret_key is None and (self.uses_local_kafka or self.uses_local_postgres):
            return self.state_dir / "secret.key"
        return None

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def uses_local_postgres(self) -> bool:
        return self.database_url is None

    def dsn(self) -> str:
        """The PostgreSQL URL (with its secret) for drivers; never log the result."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            # SQLAlchemy-style URLs are accepted too; asyncpg wants the plain scheme.
            return url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return f"postgresql://chimera@127.0.0.1:{self.pg_port}/{self.pg_database}"

    def redacted_dsn(self) -> str:
        """The PostgreSQL URL with any password masked, for messages and logs."""
        parts = urlsplit(self.dsn())
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            parts = parts._replace(netloc=netloc)
        return urlunsplit(parts)

    @property
    def media_root(self) -> Path:
        return self.media_dir or self.state_dir / "media"
