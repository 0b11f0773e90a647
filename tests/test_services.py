"""The harness hands out a real broker and a real, migrated, isolated database."""

from __future__ import annotations

import json
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from core.kafka import client_options
from core.settings import Settings


async def test_kafka_round_trip_keeps_key_order(settings: Settings) -> None:
    topic = f"{settings.topic_prefix}.roundtrip"
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    sent = [(f"key-{i % 4}", {"n": i}) for i in range(40)]
    try:
        for key, value in sent:
            await producer.send_and_wait(topic, json.dumps(value).encode(), key=key.encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"g-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[str, int]] = []
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "the broker delivered nothing within 10 s"
            for records in batch.values():
                received += [(r.key.decode(), json.loads(r.value)["n"]) for r in records]
    finally:
        await consumer.stop()

    assert sorted(n for _, n in received) == list(range(40))
    for key in {k for k, _ in sent}:
        per_key = [n for k, n in received if k == key]
        assert per_key == sorted(per_key), f"{key} arrived out of order"


async def test_postgres_round_trip_in_an_isolated_database(
    pool: asyncpg.Pool, database_url: str
) -> None:
    assert database_url.rsplit("/", 1)[1].startswith("t_")
    assert await pool.fetchval("SELECT count(*) FROM trends") == 0
    await pool.execute(
        """INSERT INTO trends (id, platform, topic, title, engagement_metrics, velocity,
                               fetched_at, url, tags)
           VALUES ('t1', 'youtube', 'ai', 'AI video', '{"views": 10}', 1.5, now(),
                   'https://example.org/v', ARRAY['ai','tech'])"""
    )
    row = await pool.fetchrow("SELECT topic, engagement_metrics, tags FROM trends WHERE id='t1'")
    assert row is not None
    assert (row["topic"], json.loads(row["engagement_metrics"]), row["tags"]) == (
        "ai",
        {"views": 10},
        ["ai", "tech"],
    )


async def test_each_test_gets_its_own_database(pool: asyncpg.Pool) -> None:
    # The row written by the test above must not be visible here.
    assert await pool.fetchval("SELECT count(*) FROM trends") == 0
