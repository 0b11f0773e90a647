"""Test harness: real Kafka and real PostgreSQL for every test that claims their behaviour.

Where the services come from, in order:
1. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set (a real cluster or server you run);
2. the local stack (`chimera stack up`), started here if it is not running and stopped again
   at the end of the session if this session started it;
3. testcontainers, when a Docker engine answers and the local stack cannot be started.
If none works the run stops with a clear message: integration tests are never skipped.

Each test gets unique topic names (a fresh topic prefix) and its own database, created from a
migrated template database, so tests never see each other's rows or messages.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from chimera import stack
from core import db
from core.errors import StackError
from core.settings import Settings


@dataclass(frozen=True)
class Services:
    """Where the real broker and server are for this test session."""

    bootstrap_servers: str
    admin_dsn: str  # a database we may CREATE DATABASE from


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
        found = Services(settings.bootstrap_servers, settings.dsn())
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


@pytest.fixture
def topic_prefix(services: Services) -> Iterator[str]:
    """A prefix no other test uses, so every topic name in this test is unique. The test's
    topics are deleted afterwards, so a long-lived local broker does not pile them up."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    asyncio.run(_delete_topics(services.bootstrap_servers, prefix))


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix + ".")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@pytest.fixture
def settings(services: Services, database_url: str, topic_prefix: str, tmp_path) -> Settings:
    """Settings pointing at the real services, this test's database and topics."""
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        DATABASE_URL=database_url,
        topic_prefix=topic_prefix,
        state_dir=tmp_path / "state",
        media_dir=tmp_path / "media",
    )
