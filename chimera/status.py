"""`chimera status`: what the pipeline is doing, from PostgreSQL and Kafka.

Unhealthy (exit 1) when the database or the broker does not answer, when an outbox row has
waited more than `OUTBOX_STALE_SECONDS` (a relay is down), or when a publication's outcome
is unknown (a person must check the platform).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from chimera.settings import Settings
from chimera.stack.kafka import probe_metadata

OUTBOX_STALE_SECONDS = 60.0


async def collect(settings: Settings) -> dict[str, Any]:
    report: dict[str, Any] = {"database": settings.redacted_dsn(),
                              "kafka": settings.bootstrap_servers, "problems": []}
    report["kafka_up"] = await _kafka_up(settings)
    if not report["kafka_up"]:
        report["problems"].append("kafka does not answer")
    try:
        conn = await asyncpg.connect(settings.dsn(), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        report["problems"].append(f"database does not answer: {type(exc).__name__}")
        report["healthy"] = False
        return report
    try:
        async def counts(sql: str) -> dict[str, int]:
            return {r[0]: r[1] for r in await conn.fetch(sql)}

        report["workflows"] = await counts("SELECT state, count(*) FROM workflows GROUP BY 1")
        report["content"] = await counts("SELECT status, count(*) FROM content GROUP BY 1")
        report["publications"] = await counts(
            "SELECT status, count(*) FROM publications GROUP BY 1")
        report["outbox"] = {r["agent"]: {"unsent": r["n"], "oldest_seconds": r["age"]}
                            for r in await conn.fetch(
            """SELECT agent, count(*) AS n,
                      round(extract(epoch FROM now() - min(created_at))::numeric, 1)::float
                      AS age
               FROM outbox WHERE sent_at IS NULL GROUP BY agent""")}
        report["recent_workflows"] = [dict(r) for r in await conn.fetch(
            """SELECT w.correlation_id::text AS workflow, w.topic, w.state, w.reason,
                      w.content_id, w.updated_at
               FROM workflows w ORDER BY w.updated_at DESC LIMIT 10""")]
    finally:
        await conn.close()
    for agent, backlog in report["outbox"].items():
        if backlog["oldest_seconds"] > OUTBOX_STALE_SECONDS:
            report["problems"].append(
                f"outbox of {agent}: {backlog['unsent']} unsent, oldest "
                f"{backlog['oldest_seconds']:.0f}s (is its relay running?)")
    if report["publications"].get("unknown"):
        report["problems"].append(
            f"{report['publications']['unknown']} publication(s) with unknown outcome")
    report["healthy"] = not report["problems"]
    return report


async def _kafka_up(settings: Settings) -> bool:
    import asyncio

    return await asyncio.to_thread(probe_metadata, settings.bootstrap_servers)


def render(report: dict[str, Any]) -> str:
    lines = [f"{'HEALTHY' if report['healthy'] else 'UNHEALTHY'}   "
             f"kafka {report['kafka']} ({'up' if report.get('kafka_up') else 'down'})   "
             f"database {report['database']}"]
    for problem in report["problems"]:
        lines.append(f"  ! {problem}")
    for section in ("workflows", "content", "publications"):
        if section in report:
            values = ", ".join(f"{k} {v}" for k, v in sorted(report[section].items())) or "none"
            lines.append(f"{section:<13} {values}")
    if "outbox" in report:
        backlog = ", ".join(f"{a} {b['unsent']} (oldest {b['oldest_seconds']:.0f}s)"
                            for a, b in sorted(report["outbox"].items())) or "empty"
        lines.append(f"{'outbox':<13} {backlog}")
    for w in report.get("recent_workflows", []):
        when = f"{w['updated_at']:%Y-%m-%d %H:%M:%S}"
        lines.append(f"  {when}  {w['state']:<10} {w['topic'][:40]:<40}  {w['reason'] or ''}")
    return "\n".join(lines)
