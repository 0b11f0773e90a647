"""OperatorAlerts as people see them: the latest ones of the alerts topic, newest first.

Acknowledgements (who has seen which alert) are kept in PostgreSQL by the console
(`agents.repositories.acknowledgements`); the alerts themselves stay on Kafka.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from chimera.ops import offsets
from core.settings import Settings
from events import DecodeError, OperatorAlert, Topics, decode


def summary(event: OperatorAlert) -> dict[str, Any]:
    """One alert as plain data (time, severity, source, code, message, subject, ids)."""
    p = event.payload
    return {
        "time": event.occurred_at.astimezone(UTC).isoformat(),
        "severity": p.severity,
        "source": p.source,
        "code": p.error.code,
        "message": p.error.message,
        "subject": p.subject,
        "event_id": str(event.event_id),
        "context": p.context,
    }


@offsets.shares_admin
async def latest(settings: Settings, count: int = 100) -> list[dict[str, Any]]:
    """The last `count` alerts of each partition of the alerts topic, newest first, at most
    `count` in all (an empty list before the topic exists)."""
    topic = Topics(settings.topic_prefix).alerts
    if topic not in await offsets.existing_topics(settings):
        return []
    partitions = await offsets.list_partitions(settings, [topic])
    beginning, end = await offsets.watermarks(settings, partitions)
    ranges = {tp: (max(beginning[tp], end[tp] - count), end[tp]) for tp in partitions}
    found = []
    async with offsets.plain_consumer(settings) as consumer:
        async for record in offsets.read_range(consumer, ranges):
            try:
                event = decode(record.value, (OperatorAlert.EVENT_TYPE,))
            except DecodeError:
                continue
            assert isinstance(event, OperatorAlert)
            found.append(summary(event))
    found.sort(key=lambda a: a["time"], reverse=True)
    return found[:count]
