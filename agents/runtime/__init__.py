"""What every agent shares: composition root, consumption semantics, inbox/outbox, relay."""

from agents.runtime.agent import AgentRuntime
from agents.runtime.consumer import Subscription
from agents.runtime.store import Tx

__all__ = ["AgentRuntime", "Subscription", "Tx"]
