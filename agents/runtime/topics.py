"""The registry's topics on the broker: every stream's topic and its dead-letter topic."""

from __future__ import annotations

from core.kafka import create_missing_topics
from core.settings import Settings
from events import Topics
from events.topics import DLQ_SUFFIX


async def ensure_topics(settings: Settings, partitions: dict[str, int] | None = None) -> list[str]:
    """Create every stream's topic and dead-letter topic that does not exist yet.

    Partition counts: `settings.topic_partitions` for each, overridable per stream suffix
    (`{"trends": 6}` applies to the trends topic and its dead-letter topic). Returns the names
    it created.
    """
    topics = Topics(settings.topic_prefix)
    counts: dict[str, int] = {}
    for name in topics.all():
        suffix = name.removeprefix(f"{settings.topic_prefix}.").removesuffix(".dlq")
        if partitions and suffix in partitions:
            counts[name] = partitions[suffix]
    # A dead letter is its record plus a few KiB of headers: a record as large as its topic
    # allows must still fit in the dead-letter topic.
    configs = {name: DLQ_CONFIG for name in topics.all() if name.endswith(DLQ_SUFFIX)}
    return await create_missing_topics(settings, topics.all(), counts, configs)


DLQ_CONFIG = {"max.message.bytes": str(16 * 1024 * 1024)}
