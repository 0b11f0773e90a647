"""Operational settings of an agent process: HTTP endpoint, shutdown deadline, telemetry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    """Configured with CHIMERA_* variables (see the field names, upper-cased)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", extra="ignore")

    http_host: str = Field(
        default="127.0.0.1",
        description="Where /metrics and /health/* listen; 0.0.0.0 inside a container.",
    )
    http_port: int = Field(
        default=0, ge=0, le=65535, description="0 picks a free port, which the agent logs at start."
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM, how long in-flight work may take before it is handed back "
        "(cancelled, uncommitted, redelivered to the next consumer).",
    )
    ready_db_timeout_s: float = Field(
        default=2.0, gt=0, description="/health/ready fails when SELECT 1 takes longer."
    )
    ready_stall_s: float = Field(
        default=60.0,
        gt=0,
        description="/health/ready fails when records wait on the agent's partitions and the "
        "consume loop has not started a batch for this long.",
    )
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="Where spans go; trace context is propagated in Kafka headers either way.",
    )
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"
