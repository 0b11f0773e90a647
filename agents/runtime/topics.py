"""The registry's topics on the broker: every stream's topic and its dead-letter topic."""

from __future__ import annotations

from core.kafka import create_missing_topics
from core.settings import Settings
from events import Topics


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
    return await create_missing_topics(settings, topics.all(), counts)
