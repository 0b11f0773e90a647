"""Operating an agent: its /metrics and /health endpoints and what they look at.

Readiness means "this process is doing its job now", not "Kafka answers":
* the consume loop is alive and making progress: FastStream's subscriber runs, its consume
  task is not done, and it is inside a batch (a long render is fine), or started or finished
  one recently, or has nothing to do (no record waits on its partitions); records waiting
  while no batch starts for `CHIMERA_READY_STALL_S` mean a stuck loop;
* the outbox relay and the agent's background loops are alive;
* PostgreSQL answers `SELECT 1` within a timeout, and the Kafka cluster answers a metadata
  request (FastStream's ping) within the same timeout;
* the agent is not shutting down.
Each failed check gives a reason in the 503's JSON body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition

from agents.runtime.metrics import AgentMetrics
from core.errors import ConfigError
from core.observability.http import HttpServer
from core.observability.settings import ObservabilitySettings

if TYPE_CHECKING:
    from agents.runtime.agent import AgentRuntime

log = logging.getLogger("chimera.ops")
JSON = "application/json"


class Operations:
    """Heartbeat of the consume loop, health checks, gauges and the HTTP endpoint."""

    def __init__(self, runtime: AgentRuntime, settings: ObservabilitySettings) -> None:
        self.rt = runtime
        self.settings = settings
        self.metrics = AgentMetrics(runtime.name)
        self.metrics.redeliveries.labels(runtime.name)
        self.metrics.relayed.labels(runtime.name)
        self.started_at = time.monotonic()
        self.last_batch: float | None = None
        self.in_flight = 0
        self.stopping = False
        self.port: int | None = None
        self._server: HttpServer | None = None

    @property
    def agent(self) -> str:
        return self.rt.name

    # --- heartbeat (called by the batch guard middleware) ------------------------------------
    def batch_started(self) -> None:
        self.in_flight += 1
        self.last_batch = time.monotonic()
        self.metrics.in_flight.labels(self.rt.name).set(self.in_flight)

    def batch_finished(self) -> None:
        self.in_flight -= 1
        self.last_batch = time.monotonic()
        self.metrics.in_flight.labels(self.rt.name).set(self.in_flight)

    def batch_rewound(self) -> None:
        self.metrics.redeliveries.labels(self.rt.name).inc()

    # --- HTTP -------------------------------------------------------------------------------
    async def start_http(self) -> int:
        self._server = HttpServer(
            {
                "/metrics": self._metrics,
                "/health/live": self._live,
                "/health/ready": self._ready,
            },
            self.settings.http_host,
            self.settings.http_port,
        )
        try:
            self.port = await self._server.start()
        except OSError as exc:
            raise ConfigError(
                f"{self.rt.name}: cannot serve HTTP on {self.settings.http_host}:"
                f"{self.settings.http_port} (CHIMERA_HTTP_HOST/PORT): {exc}"
            ) from exc
        log.info(
            "%s: serving /metrics, /health/live, /health/ready on http://%s:%d",
            self.rt.name,
            self.settings.http_host,
            self.port,
            extra={"http_port": self.port},
        )
        return self.port

    async def stop_http(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def _live(self) -> tuple[int, str, bytes]:
        # Answering at all proves the process is up and its event loop turns.
        return 200, JSON, json.dumps({"status": "ok", "agent": self.rt.name}).encode()

    async def _ready(self) -> tuple[int, str, bytes]:
        checks = await self.readiness()
        failed = {name: c["reason"] for name, c in checks.items() if not c["ok"]}
        body = {
            "status": "unavailable" if failed else "ok",
            "agent": self.rt.name,
            "checks": checks,
        }
        if failed:
            body["reason"] = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
        return (503 if failed else 200), JSON, json.dumps(body).encode()

    async def _metrics(self) -> tuple[int, str, bytes]:
        await self.refresh_gauges()
        return 200, self.metrics.content_type, self.metrics.render()

    # --- health -----------------------------------------------------------------------------
    async def readiness(self) -> dict[str, dict[str, Any]]:
        """Every check with `ok` and, when not ok, a `reason`."""
        checks: dict[str, dict[str, Any]] = {}

        def put(name: str, reason: str | None, **info: Any) -> None:
            checks[name] = {"ok": reason is None, **({"reason": reason} if reason else {}), **info}

        put(
            "lifecycle",
            "shutting down" if self.stopping else None if self.rt.ready.is_set() else "not started",
        )
        put(
            "consume_loop",
            await self._consume_loop_problem(),
            in_flight=self.in_flight,
            last_batch_age_s=(
                round(time.monotonic() - self.last_batch, 3)
                if self.last_batch is not None
                else None
            ),
        )
        # The relay never returns; a background loop may (e.g. one that is switched off), but
        # not with an error or by cancellation.
        dead = [
            name
            for name, task in self.rt.tasks.items()
            if task.done() and (name == "relay" or task.cancelled() or task.exception() is not None)
        ]
        put(
            "background",
            f"task(s) not running: {', '.join(dead)}" if dead else None,
            tasks=sorted(self.rt.tasks),
        )
        database, kafka = await asyncio.gather(self._database_problem(), self._kafka_problem())
        put("database", database)
        put("kafka", kafka)
        return checks

    async def _kafka_problem(self) -> str | None:
        timeout = self.settings.ready_db_timeout_s
        try:
            answered = await asyncio.wait_for(self.rt.broker.ping(timeout), timeout + 1.0)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if answered else f"no cluster metadata within {timeout}s"

    async def _consume_loop_problem(self) -> str | None:
        sub = self.rt.subscriber
        if sub is None:
            return None  # an agent without subscriptions has no consume loop
        if not sub.running:
            return "the subscriber is not running"
        if not any(not task.done() for task in sub.tasks):
            return "the consume task has ended"
        if self.in_flight:
            return None  # inside a batch: a long handler is not a dead loop
        age = time.monotonic() - (self.last_batch or self.started_at)
        if age <= self.settings.ready_stall_s:
            return None
        try:
            waiting = await asyncio.wait_for(self._records_waiting(), 3.0)
        except Exception as exc:
            return f"cannot tell whether records wait: {type(exc).__name__}: {exc}"
        if waiting:
            return (
                f"the consume loop started no batch for {age:.0f}s while {waiting} record(s) wait"
            )
        return None

    async def _records_waiting(self) -> int:
        """Records on the assigned partitions after the consumer's position."""
        consumer = self.rt.subscriber.consumer if self.rt.subscriber is not None else None
        if consumer is None:
            return 0
        assigned = list(consumer.assignment())
        if not assigned:
            return 0
        ends = await consumer.end_offsets(assigned)
        waiting = 0
        for tp in assigned:
            position = await consumer.position(tp)
            waiting += max(0, ends.get(tp, position) - position)
        return waiting

    async def _database_problem(self) -> str | None:
        if not self.rt.started:
            return "no database pool"
        try:
            await asyncio.wait_for(
                self.rt.pool.fetchval("SELECT 1"), self.settings.ready_db_timeout_s
            )
        except TimeoutError:
            return f"SELECT 1 took longer than {self.settings.ready_db_timeout_s}s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    # --- gauges -------------------------------------------------------------------------------
    async def refresh_gauges(self) -> None:
        """Outbox backlog, consumer lag and poll age, measured now (each bounded in time)."""
        name = self.rt.name
        m = self.metrics
        m.last_batch_age.labels(name).set(time.monotonic() - (self.last_batch or self.started_at))
        if not self.rt.started:
            return  # not started yet (or stopped)
        try:
            row = await asyncio.wait_for(
                self.rt.pool.fetchrow(
                    """SELECT count(*) AS n,
                          coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                   FROM outbox WHERE agent = $1 AND sent_at IS NULL""",
                    name,
                ),
                2.0,
            )
            assert row is not None
            m.outbox_backlog.labels(name).set(row["n"])
            m.outbox_oldest_age.labels(name).set(float(row["age"]))
        except Exception as exc:
            log.warning("%s: cannot measure the outbox backlog: %s", name, exc)
        try:
            await asyncio.wait_for(self._refresh_lag(), 3.0)
        except Exception as exc:
            log.warning("%s: cannot measure the consumer lag: %s", name, exc)

    async def _refresh_lag(self) -> None:
        sub = self.rt.subscriber
        consumer = sub.consumer if sub is not None else None
        self.metrics.consumer_lag.clear()
        self.metrics.consumer_fetch_lag.clear()
        if consumer is None:
            return
        assigned: list[TopicPartition] = sorted(consumer.assignment())
        if not assigned:
            return
        ends = await consumer.end_offsets(assigned)
        for tp in assigned:
            end = ends.get(tp)
            if end is None:
                continue
            labels = (self.rt.name, tp.topic, str(tp.partition))
            committed = await consumer.committed(tp)
            self.metrics.consumer_lag.labels(*labels).set(end - (committed or 0))
            position = await consumer.position(tp)
            self.metrics.consumer_fetch_lag.labels(*labels).set(max(0, end - position))
