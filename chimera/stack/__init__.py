"""The local stack: a real Kafka broker and a real PostgreSQL server, no Docker needed.

Each part is used only when its URL is not configured: with KAFKA_BOOTSTRAP_SERVERS set the
stack leaves Kafka alone, with DATABASE_URL set it leaves PostgreSQL alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chimera.stack.kafka import LocalKafka, probe_metadata
from chimera.stack.postgres import LocalPostgres, PostgresStatus, external_status
from chimera.stack.tools import KafkaTools
from core import crypto
from core.credentials import kafka_user
from core.kafka import client_options
from core.private import private_dir
from core.settings import Settings


@dataclass(frozen=True)
class Component:
    name: str
    running: bool
    managed: bool
    where: str
    detail: str


@dataclass(frozen=True)
class MasterKey:
    """The local master key file (`core.crypto`) and whether this call created it."""

    path: Path
    created: bool

    def describe(self) -> str:
        made = "created" if self.created else "kept"
        return (
            f"master key: {made} {self.path} (0600; it seals the platform tokens: back it up, "
            "or give CHIMERA_SECRET_KEY / CHIMERA_SECRET_KEY_FILE instead)"
        )


def ensure_master_key(settings: Settings) -> MasterKey | None:
    """The local stack's master key: `<state_dir>/secret.key`, created (one new key, 0600, in
    an owner-only folder) when missing. None when the key comes from CHIMERA_SECRET_KEY, or
    from a key file the operator configured (that one is never created here)."""
    if settings.secret_key is not None or settings.secret_key_file is not None:
        return None
    path = settings.secret_key_path
    if path is None:  # no local service: a deployment gives its key
        return None
    return MasterKey(path, crypto.ensure_key_file(path))


def up(settings: Settings) -> list[tuple[str, bool]]:
    """Start what is not running; returns (component, started_now) for each managed part.
    The state folder is owner-only and the local master key exists afterwards."""
    started: list[tuple[str, bool]] = []
    private_dir(settings.state_dir)
    ensure_master_key(settings)
    if settings.uses_local_postgres:
        started.append(("postgresql", LocalPostgres(settings).up()))
    if settings.uses_local_kafka:
        kafka = LocalKafka(settings)
        started.append(("kafka", kafka.up()))
        secure_local_kafka(kafka)
        KafkaTools(settings).ensure()  # Kafka's own CLI tools, beside the broker
    return started


def secure_local_kafka(kafka: LocalKafka) -> None:
    """Every principal's SCRAM user (those added since the format too) and the ACLs of the
    configured topic prefix, on the local broker."""
    from chimera.access import kafka as access

    admin = kafka.admin_settings()
    creds = kafka.credentials()
    access.ensure_users(
        admin,
        {kafka_user(n): p.kafka_password.get_secret_value() for n, p in creds.principals.items()},
    )
    access.apply(admin, access.matrix(kafka.settings))


def down(settings: Settings) -> list[tuple[str, bool]]:
    """Stop what `up` started; returns (component, stopped_now) for each managed part."""
    stopped: list[tuple[str, bool]] = []
    if settings.uses_local_kafka:
        stopped.append(("kafka", LocalKafka(settings).down()))
    if settings.uses_local_postgres:
        stopped.append(("postgresql", LocalPostgres(settings).down()))
    return stopped


def status(settings: Settings) -> list[Component]:
    components: list[Component] = []
    if settings.uses_local_kafka:
        k = LocalKafka(settings).status()
        components.append(
            Component(
                "kafka",
                k.running,
                True,
                k.bootstrap,
                (
                    f"Apache Kafka {k.version} (KRaft), pid {k.pid}, data {k.data_dir}, "
                    f"log {k.log_file}"
                )
                if k.pid
                else f"Apache Kafka {k.version}: not running",
            )
        )
    else:
        ok = probe_metadata(settings.bootstrap_servers, options=client_options(settings))
        components.append(
            Component(
                "kafka",
                ok,
                False,
                settings.bootstrap_servers,
                "external cluster" + ("" if ok else ": not answering"),
            )
        )
    pg: PostgresStatus = (
        LocalPostgres(settings).status()
        if settings.uses_local_postgres
        else external_status(settings)
    )
    where = pg.dsn
    detail = pg.detail
    if pg.managed and pg.pid:
        detail += f", pid {pg.pid}, data {pg.data_dir}, log {pg.log_file}"
    elif not pg.managed:
        detail = "external server: " + detail
    components.append(Component("postgresql", pg.running, pg.managed, where, detail))
    return components
