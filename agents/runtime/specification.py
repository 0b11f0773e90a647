"""An agent's AsyncAPI 3.0 specification, from what it declares.

- the channels it consumes: its `Subscription`s (topic, consumer group, accepted event types);
  each message is the union of the event envelope models it accepts, with their descriptions
  and examples;
- the channels it produces to: the event types its handlers and loops declare with `@emits`,
  each on its stream's topic (`Topics.stream_of`); plus, for every topic it consumes, the
  dead-letter topic `<topic>.dlq` (the original record's bytes) and the alerts topic (the
  runtime raises an OperatorAlert per dead letter).

The agents consume raw bytes (their decoder is strict and dead-letters what does not validate),
so their own brokers would document every message as `bytes`. The specification is therefore
built on a documentation-only broker that is never started: the same topics and group, with the
event models as message payloads. It is what `FastStream(specification=...)` serves, and what
`chimera asyncapi` writes to docs/asyncapi/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol, Union

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from agents.runtime.subscription import Loop, Subscription
from core.settings import Settings
from events import EVENTS, Topics
from events.envelope import Envelope


class Declared(Protocol):
    """What a built agent says about itself (an `AgentRuntime` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def subscriptions(self) -> Sequence[Subscription[Any]]: ...

    @property
    def loops(self) -> Sequence[Loop]: ...


def emitted_event_types(agent: Declared) -> list[str]:
    """The event types the agent puts on Kafka (in `events.EVENTS` order).

    Its handlers' and loops' `@emits` declarations; the runtime adds an OperatorAlert per dead
    letter (any agent that consumes) and an AuditRecorded per skill call it audits.
    """
    found = {t for s in agent.subscriptions for t in s.emits}
    found |= {t for loop in agent.loops for t in loop.emits}
    if agent.subscriptions:
        found.add("OperatorAlert")
    return [name for name in EVENTS if name in found]


def _message_type(event_types: Sequence[str]) -> Any:
    models = tuple(EVENTS[t] for t in event_types)
    return models[0] if len(models) == 1 else Union[models]  # noqa: UP007


def _documentation_handler(event_types: Sequence[str]) -> Callable[..., Any]:
    """A handler that is never called: its parameter's type is the message's schema."""

    async def handler(event: Envelope[Any]) -> None:
        raise AssertionError("documentation only")

    handler.__annotations__ = {"event": _message_type(event_types), "return": None}
    return handler


def _project_version() -> str:
    try:
        return version("chimera")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def specification(agent: Declared) -> AsyncAPI:
    """The AsyncAPI specification of a built agent: its subscriptions' topics and group with
    the event models as payloads, and what it produces."""
    settings = agent.settings
    topics = Topics(settings.topic_prefix)
    broker = KafkaBroker(
        settings.bootstrap_servers,
        description=f"The Kafka cluster; topics under the prefix `{settings.topic_prefix}` "
        "(CHIMERA_TOPIC_PREFIX).",
    )
    for sub in agent.subscriptions:
        accepted = ", ".join(sub.accepted)
        broker.subscriber(
            sub.topic,
            group_id=agent.group,
            title=sub.name,
            description=(
                f"Consumer group `{agent.group}` reads {accepted} (JSON envelope, one event "
                f"per record) in batches of up to {sub.max_records}, at least once; duplicates "
                "are dropped by `event_id`. A record that is not a valid "
                f"{' or '.join(sub.accepted)} goes to `{Topics.dlq(sub.topic)}`."
            ),
        )(_documentation_handler(sub.accepted))

    by_topic: dict[str, list[str]] = {}
    for event_type in emitted_event_types(agent):
        by_topic.setdefault(topics.stream_of(event_type), []).append(event_type)
    for topic, event_types in sorted(by_topic.items()):
        names = " or ".join(event_types)
        broker.publisher(
            topic,
            title=f"{topic}:{agent.name}",
            schema=_message_type(event_types),
            description=(
                f"{names}, written to the outbox in the transaction that decided "
                "it and relayed to Kafka (acks=all, idempotent producer)."
            ),
        )
    for sub in agent.subscriptions:
        dlq = Topics.dlq(sub.topic)
        broker.publisher(
            dlq,
            title=f"{dlq}:{agent.name}",
            schema=bytes,
            description=(
                f"Dead letters of `{sub.topic}`: the original record (value, key, "
                "headers) unchanged, plus `chimera.dlq.*` headers saying why. Each "
                f"one raises an OperatorAlert on `{topics.alerts}`."
            ),
        )
    return AsyncAPI(
        broker,
        title=f"Chimera {agent.name} agent",
        version=_project_version(),
        description=agent.description,
        identifier=f"urn:chimera:agent:{agent.name}",
        schema_version="3.0.0",
    )
