"""Test harness: real Kafka and real PostgreSQL for every test that claims their behaviour.

Where the services come from, in order:
1. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set (a real cluster or server you run);
2. the local stack (`chimera stack up`), started here if it is not running and stopped again
   at the end of the session if this session started it;
3. testcontainers, when a Docker engine answers and the local stack cannot be started.
If none works the run stops with a clear message: integration tests are never skipped.

Each test gets unique topic names (a fresh topic prefix) and its own database, created from a
migrated template database, so tests never see each other's rows or messages.

Security: the local stack's broker runs SASL/SCRAM with ACLs. `settings` then authenticates as
the stack's super user (test helpers read and write anything) and carries the credentials file,
so `agents.build(name, settings)` runs each agent as its own principal, and the ACL matrix of
the test's topic prefix (`chimera.access.kafka.matrix`) is created before the test and deleted
after it: agents in tests hold exactly the rights they hold in production.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from chimera import stack
from chimera.access import kafka as kafka_access
from core import db
from core.credentials import ADMIN, as_principal
from core.errors import StackError
from core.kafka import admin_options
from core.settings import Settings

#: One master key per test session (core.crypto), never a real one.
SESSION_SECRET_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Services:
    """Where the real broker and server are for this test session."""

    bootstrap_servers: str
    admin_dsn: str  # a database we may CREATE DATABASE from
    # The broker's security: None for a PLAINTEXT broker (KAFKA_BOOTSTRAP_SERVERS without
    # credentials); else the credentials file whose `admin` entry is a super user.
    credentials_file: Path | None = None

    @property
    def secured(self) -> bool:
        return self.credentials_file is not None

    def kafka_settings(self, **fields: object) -> Settings:
        """Settings that reach the broker as its super user (or plainly when unsecured)."""
        base = Settings(
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap_servers,
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT" if self.secured else "PLAINTEXT",
            DATABASE_URL=self.admin_dsn,
            credentials_file=self.credentials_file,
            secret_key=SecretStr(SESSION_SECRET_KEY),
            **fields,
        )
        return as_principal(base, ADMIN) if self.secured else base


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:
        return False


def _from_testcontainers(request: pytest.FixtureRequest) -> Services:
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    postgres = PostgresContainer("postgres:16", driver=None)
    kafka.start()
    request.addfinalizer(kafka.stop)
    postgres.start()
    request.addfinalizer(postgres.stop)
    return Services(kafka.get_bootstrap_server(), postgres.get_connection_url())


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Iterator[Services]:
    settings = Settings()
    started_here = False
    try:
        results = stack.up(settings)
        started_here = any(started for _, started in results)
        secured = settings.security_protocol.startswith("SASL")
        found = Services(
            settings.bootstrap_servers,
            settings.dsn(),
            settings.credentials_path if secured else None,
        )
    except StackError as exc:
        if not _docker_answers():
            pytest.exit(
                "No Kafka/PostgreSQL for the integration tests: the local stack failed "
                f"({exc}) and no Docker engine answers. Run `make setup`, or set "
                "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL.",
                returncode=3,
            )
        found = _from_testcontainers(request)
    yield found
    if started_here and not os.environ.get("CHIMERA_KEEP_STACK"):
        stack.down(settings)


def _with_database(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def template_database(services: Services) -> Iterator[str]:
    """A database migrated to head once per session; tests copy it."""
    name = f"chimera_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(services.admin_dsn, f'CREATE DATABASE "{name}"'))
    db.upgrade(_with_database(services.admin_dsn, name))
    yield name
    asyncio.run(_admin(services.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def database_url(services: Services, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(services.admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield _with_database(services.admin_dsn, name)
    await _admin(services.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    assert created is not None
    yield created
    await created.close()


TEMPLATE_PREFIX = "tacltemplate0"


@pytest.fixture(scope="session")
def acl_template(services: Services) -> list[kafka_access.Acl]:
    """The ACL matrix for a placeholder prefix, computed once (building the agents to read
    their declarations takes most of a second); `topic_prefix` renames it per test."""
    if not services.secured:
        return []
    return kafka_access.matrix(services.kafka_settings(topic_prefix=TEMPLATE_PREFIX))


def prefix_acls(template: list[kafka_access.Acl], prefix: str) -> list[kafka_access.Acl]:
    """The ACL matrix of `acl_template` for topic prefix `prefix`."""
    return [
        dataclasses.replace(a, name=prefix + a.name.removeprefix(TEMPLATE_PREFIX))
        if a.name.startswith(TEMPLATE_PREFIX)
        else a
        for a in template
    ]


@pytest.fixture
def topic_prefix(services: Services, acl_template: list[kafka_access.Acl]) -> Iterator[str]:
    """A prefix no other test uses, so every topic name in this test is unique. On a secured
    broker the prefix's ACL matrix exists during the test. The test's topics (and ACLs) are
    deleted afterwards, so a long-lived local broker does not pile them up."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    admin = services.kafka_settings(topic_prefix=prefix)
    acls = prefix_acls(acl_template, prefix)
    kafka_access.apply(admin, acls)
    yield prefix
    asyncio.run(_delete_topics(admin, prefix))
    kafka_access.revoke(admin, acls)


async def _delete_topics(settings: Settings, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**admin_options(settings))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix + ".")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@pytest.fixture
def settings(services: Services, database_url: str, topic_prefix: str, tmp_path) -> Settings:
    """Settings pointing at the real services, this test's database and topics, as the
    broker's super user; `agents.build` turns them into each agent's own principal."""
    return services.kafka_settings(
        topic_prefix=topic_prefix,
        state_dir=tmp_path / "state",
        media_dir=tmp_path / "media",
    ).model_copy(update={"database_url": SecretStr(database_url)})


@pytest.fixture
def child_env(settings: Settings) -> dict[str, str]:
    """The environment a `chimera ...` subprocess of this test needs (its CLI then picks its
    own principal from the credentials file)."""
    from core.credentials import process_env

    return process_env(settings)
