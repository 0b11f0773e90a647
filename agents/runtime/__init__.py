"""What every agent shares: declarations, consumption semantics, inbox/outbox, relay."""

from agents.runtime.agent import AgentRuntime
from agents.runtime.store import Tx
from agents.runtime.subscription import Loop, Subscription, delegates_to, emits

__all__ = ["AgentRuntime", "Loop", "Subscription", "Tx", "delegates_to", "emits"]
