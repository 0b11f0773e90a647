"""Kafka clients every agent shares: the FastStream broker, the relay's producer, topics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from chimera.settings import Settings
from events import Topics


def broker_security(settings: Settings) -> BaseSecurity | None:
    """FastStream's security object for the configured protocol (None for PLAINTEXT)."""
    options = settings.kafka_client_options()
    ssl_context = options.get("ssl_context")
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context)  # type: ignore[arg-type]
    user = settings.kafka_sasl_username or ""
    password = (settings.kafka_sasl_password.get_secret_value()
                if settings.kafka_sasl_password else "")
    use_ssl = protocol == "SASL_SSL"
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256,
           "SCRAM-SHA-512": SASLScram512}[mechanism]
    return cls(username=user, password=password, ssl_context=ssl_context,  # type: ignore[arg-type]
               use_ssl=use_ssl)


def make_broker(settings: Settings, client_id: str, *, graceful_timeout: float = 15.0,
                middlewares: Sequence[Any] = ()) -> KafkaBroker:
    """The agent's FastStream broker (subscribers; its own publisher is not used for events).

    `graceful_timeout`: on stop, how long FastStream waits for the batch being handled before
    it cancels it (uncommitted: with manual acks nothing is committed before it is done).
    """
    return KafkaBroker(
        settings.bootstrap_servers,
        security=broker_security(settings),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        # Through the root logger (JSON lines under `chimera agent`), not FastStream's own
        # stdout handler; it logs every message at this level: keep it out of INFO logs.
        logger=logging.getLogger("chimera.kafka"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
        middlewares=tuple(middlewares),
    )


def make_producer(settings: Settings, client_id: str) -> AIOKafkaProducer:
    """A producer for events that must not be lost: acks=all and idempotence on."""
    return AIOKafkaProducer(
        **settings.kafka_client_options(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def ensure_topics(settings: Settings, partitions: dict[str, int] | None = None) -> list[str]:
    """Create every stream's topic and dead-letter topic that does not exist yet.

    Partition counts: `settings.topic_partitions` for each, overridable per stream suffix.
    Returns the names it created.
    """
    topics = Topics(settings.topic_prefix)
    admin = AIOKafkaAdminClient(**_admin_options(settings))
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for name in topics.all():
            if name in existing:
                continue
            suffix = name.removeprefix(f"{settings.topic_prefix}.").removesuffix(".dlq")
            count = (partitions or {}).get(suffix, settings.topic_partitions)
            wanted.append(NewTopic(name, num_partitions=count,
                                   replication_factor=settings.topic_replication_factor))
        if wanted:
            # Another agent may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
            created = [t.name for t in wanted]
    finally:
        await admin.close()
    return created


def _admin_options(settings: Settings) -> dict[str, Any]:
    options = settings.kafka_client_options()
    return {k: v for k, v in options.items() if k in {
        "bootstrap_servers", "security_protocol", "ssl_context", "sasl_mechanism",
        "sasl_plain_username", "sasl_plain_password"}}

