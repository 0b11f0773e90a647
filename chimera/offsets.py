"""Consumer-group offsets: read them and move them (replays). The group must be inactive."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from chimera.settings import Settings


async def list_partitions(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**{k: v for k, v in settings.kafka_client_options().items()
                                   if k != "client_id"})
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return sorted(TopicPartition(t["topic"], p["partition"]) for t in described
                  for p in t["partitions"])


async def reset_to_earliest(settings: Settings, group: str, topics: list[str]) -> dict[str, int]:
    """Point `group` at the first retained record of every partition of `topics`.

    Returns how many records per topic the group will see again. Commits made while the
    group has live members would be overwritten by them: stop the agent first.
    """
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    replayed: dict[str, int] = {}
    try:
        partitions = await list_partitions(settings, topics)
        consumer.assign(partitions)
        beginning = await consumer.beginning_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        await consumer.commit({tp: OffsetAndMetadata(beginning[tp], "") for tp in partitions})
        for tp in partitions:
            replayed[tp.topic] = replayed.get(tp.topic, 0) + (
                (committed[tp] or beginning[tp]) - beginning[tp])
    finally:
        await consumer.stop()
    return replayed
