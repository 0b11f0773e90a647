"""Least privilege on a real broker with SASL/SCRAM and the StandardAuthorizer.

The session's broker when it is secured (the local stack); otherwise (a PLAINTEXT
KAFKA_BOOTSTRAP_SERVERS) a secured `LocalKafka` of this module's own, on free ports: the
denials are always proven, never skipped.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from aiokafka.structs import OffsetAndMetadata
from pydantic import SecretStr

from chimera.access import kafka as access
from chimera.stack.kafka import LocalKafka
from core.credentials import as_principal, kafka_user
from core.kafka import client_options, create_missing_topics
from core.settings import Settings
from events import Topics
from tests.conftest import Services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def secured(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Super-user settings of a secured broker (see the module docstring)."""
    if services.secured:
        yield services.kafka_settings()
        return
    state = tmp_path_factory.mktemp("secure-kafka")
    port = _free_port()
    kafka = LocalKafka(
        Settings(state_dir=state, kafka_port=port, kafka_controller_port=_free_port())
    )
    kafka.up()
    try:
        yield kafka.admin_settings()
    finally:
        kafka.down()


@pytest.fixture
def deployment(secured: Settings) -> Iterator[Settings]:
    """A fresh topic prefix with its ACL matrix and topics, as the super user."""
    admin = replace_prefix(secured, f"acl{uuid.uuid4().hex[:8]}")
    acls = access.matrix(admin)
    access.apply(admin, acls)
    asyncio.run(create_missing_topics(admin, Topics(admin.topic_prefix).all()))
    yield admin
    access.revoke(admin, acls)


def replace_prefix(settings: Settings, prefix: str) -> Settings:
    return settings.model_copy(update={"topic_prefix": prefix})


async def _produce(settings: Settings, topic: str) -> None:
    producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()


async def _commit(settings: Settings, group: str, topic: str) -> None:
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(0, "")})
    finally:
        await consumer.stop()


async def test_the_publish_agent_cannot_produce_to_the_trends_topic(
    deployment: Settings,
) -> None:
    topics = Topics(deployment.topic_prefix)
    publish = as_principal(deployment, "publish")
    assert publish.kafka_sasl_username == kafka_user("publish")
    await _produce(publish, topics.publish_events)  # its own output: allowed
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(publish, topics.trends)
    research = as_principal(deployment, "research")
    await _produce(research, topics.trends)  # the trends topic's producer may


async def test_the_audit_sink_cannot_commit_the_orchestrators_group(
    deployment: Settings,
) -> None:
    topics = Topics(deployment.topic_prefix)
    group = f"{deployment.topic_prefix}.orchestrator"
    with pytest.raises(GroupAuthorizationFailedError):
        await _commit(as_principal(deployment, "audit"), group, topics.audit)
    await _commit(as_principal(deployment, "orchestrator"), group, topics.trends)


async def test_an_unauthenticated_client_cannot_connect(deployment: Settings) -> None:
    plain = deployment.model_copy(update={"kafka_security_protocol": "PLAINTEXT"})
    producer = AIOKafkaProducer(**client_options(plain), request_timeout_ms=5_000)
    with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(producer.start(), 20)
    await producer.stop()


async def test_a_wrong_password_is_refused(deployment: Settings) -> None:
    wrong = as_principal(deployment, "publish").model_copy(
        update={"kafka_sasl_password": SecretStr("not-the-password")}
    )
    producer = AIOKafkaProducer(**client_options(wrong), request_timeout_ms=5_000)
    with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(producer.start(), 20)
    await producer.stop()


def test_the_matrix_is_what_the_agents_declare(tmp_path: Path) -> None:
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS="kafka:9092", topic_prefix="p", state_dir=tmp_path)
    acls = access.matrix(settings)
    publish = {(a.operation, a.resource, a.name) for a in acls if a.principal.endswith("publish")}
    assert publish == {
        ("read", "topic", "p.publish.requests"),
        # The content archive (subscription publish.archive) reads the agent's own events.
        ("read", "topic", "p.publish.events"),
        ("read", "group", "p.publish"),
        *{
            (op, "topic", t)
            for t in (
                "p.publish.events",
                "p.engagement",
                "p.publish.requests.dlq",
                "p.publish.events.dlq",
                "p.audit",
                "p.alerts",
            )
            for op in ("write", "create")
        },
        ("create", "topic", "p.publish.requests"),
    }
    # Nobody but research writes trends; only the orchestrator reads its own group.
    assert {a.principal for a in acls if a.name == "p.trends" and a.operation == "write"} == {
        "User:chimera-research"
    }
    groups = {a.principal for a in acls if a.resource == "group" and a.name == "p.orchestrator"}
    assert groups == {"User:chimera-orchestrator"}
    operator = [a for a in acls if a.principal == "User:chimera-operator"]
    assert {a.pattern for a in operator if a.resource != "cluster"} == {"prefixed"}
    assert {a.name for a in operator if a.resource != "cluster"} == {"p."}
