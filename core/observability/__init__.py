"""Operating Chimera: settings, JSON logs, traces, Prometheus metrics and a tiny HTTP server.

Everything here is agent-agnostic; `agents.runtime` wires it into each agent (metrics and
health endpoints, trace context on every consumed and emitted event, log context).
"""

from core.observability.logs import configure_logging, log_context
from core.observability.settings import ObservabilitySettings

__all__ = ["ObservabilitySettings", "configure_logging", "log_context"]
