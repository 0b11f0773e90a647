"""Prometheus metrics of one agent, in a registry of its own.

Counters and histograms are updated where things happen (consumer, relay, skill observer);
gauges that describe state elsewhere (outbox backlog, consumer lag) are refreshed by the
agent just before each scrape (`Operations.refresh_gauges`).
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

SKILL_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


class AgentMetrics:
    """Chimera's own metrics of one agent; FastStream's middleware shares `registry`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, agent: str, registry: CollectorRegistry | None = None) -> None:
        self.agent = agent
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.processed = Counter(
            "chimera_events_processed",
            "Events handled (first time) by a consumer.",
            ["agent", "consumer"],
            registry=r,
        )
        self.duplicates = Counter(
            "chimera_inbox_duplicates",
            "Events skipped because the inbox had them already.",
            ["agent", "consumer"],
            registry=r,
        )
        self.dead_letters = Counter(
            "chimera_dead_letters",
            "Records sent to a dead-letter topic.",
            ["agent", "consumer", "topic", "category"],
            registry=r,
        )
        self.retries = Counter(
            "chimera_retries",
            "Handler retries after a retryable error.",
            ["agent", "consumer"],
            registry=r,
        )
        self.parked = Counter(
            "chimera_parked",
            "Records parked for a retry later than a batch may wait.",
            ["agent", "consumer"],
            registry=r,
        )
        self.redeliveries = Counter(
            "chimera_batch_redeliveries",
            "Batches rewound uncommitted because something failed before they were decided "
            "(the database or Kafka down, a parser, a middleware).",
            ["agent"],
            registry=r,
        )
        self.skill_duration = Histogram(
            "chimera_skill_duration_seconds",
            "Skill call latency (all attempts included).",
            ["agent", "skill", "outcome"],
            buckets=SKILL_BUCKETS,
            registry=r,
        )
        self.skill_errors = Counter(
            "chimera_skill_errors",
            "Failed skill calls by error category.",
            ["agent", "skill", "category"],
            registry=r,
        )
        self.stage_progress = Gauge(
            "chimera_stage_progress_ratio",
            "How far the long stage a skill is in has got (0..1); see chimera_stage_active.",
            ["agent", "stage"],
            registry=r,
        )
        self.stage_active = Gauge(
            "chimera_stage_active",
            "1 for the long stage (download, transcription, narration, render, ...) now running.",
            ["agent", "stage"],
            registry=r,
        )
        self.relayed = Counter(
            "chimera_outbox_relayed",
            "Outbox rows sent to Kafka by this agent's relay.",
            ["agent"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "chimera_outbox_backlog",
            "Outbox rows of this agent not sent yet.",
            ["agent"],
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "chimera_outbox_oldest_unsent_age_seconds",
            "Age of this agent's oldest unsent outbox row (0 when none).",
            ["agent"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "chimera_consumer_lag",
            "Records after the group's committed offset (end offset - committed).",
            ["agent", "topic", "partition"],
            registry=r,
        )
        self.consumer_fetch_lag = Gauge(
            "chimera_consumer_fetch_lag",
            "Records not fetched yet by this consumer (end offset - position).",
            ["agent", "topic", "partition"],
            registry=r,
        )
        self.last_batch_age = Gauge(
            "chimera_consume_loop_last_batch_age_seconds",
            "Seconds since the consume loop last started or finished a batch.",
            ["agent"],
            registry=r,
        )
        self.in_flight = Gauge(
            "chimera_batches_in_flight", "Batches being handled now.", ["agent"], registry=r
        )

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
