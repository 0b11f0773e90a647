"""Kafka clients every agent shares: the FastStream broker, the relay's producer, topics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faststream.kafka import KafkaBroker
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from core.records import install_lenient_fetch
from core.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options shared by every aiokafka client (security included)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            password=(
                settings.kafka_ssl_key_password.get_secret_value()
                if settings.kafka_ssl_key_password
                else None
            ),
        )
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = (
            settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None
        )
    return options


_ADMIN_KEYS = frozenset(
    {
        "bootstrap_servers",
        "security_protocol",
        "ssl_context",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
    }
)


def confluent_config(settings: Settings) -> dict[str, Any]:
    """The same connection options for librdkafka (confluent-kafka's admin client, which has
    the ACL and SCRAM-user calls aiokafka lacks)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol.lower(),
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        for key, value in (
            ("ssl.ca.location", settings.kafka_ssl_cafile),
            ("ssl.certificate.location", settings.kafka_ssl_certfile),
            ("ssl.key.location", settings.kafka_ssl_keyfile),
        ):
            if value is not None:
                config[key] = str(value)
        if settings.kafka_ssl_key_password is not None:
            config["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
    if settings.security_protocol.startswith("SASL"):
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        config["sasl.username"] = settings.kafka_sasl_username or ""
        config["sasl.password"] = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        )
    return config


def admin_options(settings: Settings) -> dict[str, Any]:
    """`client_options` restricted to what aiokafka's admin client takes."""
    return {k: v for k, v in client_options(settings).items() if k in _ADMIN_KEYS}


def broker_security(settings: Settings) -> BaseSecurity | None:
    """FastStream's security object for the configured protocol (None for PLAINTEXT)."""
    options = client_options(settings)
    ssl_context = options.get("ssl_context")
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context)  # type: ignore[arg-type]
    user = settings.kafka_sasl_username or ""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    use_ssl = protocol == "SASL_SSL"
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
        mechanism
    ]
    return cls(
        username=user,
        password=password,
        ssl_context=ssl_context,  # type: ignore[arg-type]
        use_ssl=use_ssl,
    )


def make_broker(
    settings: Settings,
    client_id: str,
    *,
    graceful_timeout: float = 15.0,
    middlewares: Sequence[Any] = (),
) -> KafkaBroker:
    """The agent's FastStream broker (subscribers; its own publisher is not used for events).

    `graceful_timeout`: on stop, how long FastStream waits for the batch being handled before
    it cancels it (uncommitted: with manual acks nothing is committed before it is done).
    Its consumers accept any header name (`core.records.install_lenient_fetch`).
    """
    install_lenient_fetch()
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
        **client_options(settings),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def create_missing_topics(
    settings: Settings,
    names: Iterable[str],
    partitions: Mapping[str, int] | None = None,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create each topic of `names` that does not exist yet; returns the names it created.

    Partition counts: `partitions[name]` when given, else `settings.topic_partitions`; topic
    configs: `configs[name]` when given.
    """
    admin = AIOKafkaAdminClient(**admin_options(settings))
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=(partitions or {}).get(name, settings.topic_partitions),
                replication_factor=settings.topic_replication_factor,
                topic_configs=dict((configs or {}).get(name, {})),
            )
            for name in dict.fromkeys(names)
            if name not in existing
        ]
        if wanted:
            # Another agent may create them at the same moment; a principal without CREATE on
            # a topic (least privilege: agents may create only their own) is told so per topic.
            with contextlib.suppress(TopicAlreadyExistsError):
                response = await admin.create_topics(wanted)
                created = [
                    name
                    for name, code, *_ in response.topic_errors
                    if code == 0  # 36 exists already, 29 not authorised: not ours to create
                ]
    finally:
        await admin.close()
    return created
