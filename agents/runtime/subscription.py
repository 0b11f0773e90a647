"""What an agent declares: the topics it reads with their handlers, its background loops, and
the events each of them emits. Declarations are frozen configuration, checked when built; the
AsyncAPI documents (`agents.runtime.specification`) are generated from them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from events import EVENTS, Envelope

if TYPE_CHECKING:
    from agents.runtime.agent import AgentRuntime
    from agents.runtime.store import Tx

E = TypeVar("E", bound=Envelope[Any])
F = TypeVar("F", bound=Callable[..., Any])

_EMITS = "__chimera_emits__"


def emits(*event_types: type[Envelope[Any]]) -> Callable[[F], F]:
    """Declare, next to a handler or loop, the event types it puts on Kafka."""
    names = tuple(t.EVENT_TYPE for t in event_types)

    def mark(fn: F) -> F:
        setattr(fn, _EMITS, names)
        return fn

    return mark


def delegates_to(*handlers: Callable[..., Any]) -> Callable[[F], F]:
    """Declare that a dispatcher emits what the handlers it calls emit."""
    names = tuple(dict.fromkeys(t for h in handlers for t in emitted_by(h)))

    def mark(fn: F) -> F:
        setattr(fn, _EMITS, names)
        return fn

    return mark


def emitted_by(fn: object) -> tuple[str, ...]:
    """The event types `fn` declared with `@emits` (through `functools.partial` too)."""
    while isinstance(fn, partial):
        fn = fn.func
    declared: tuple[str, ...] = getattr(fn, _EMITS, ())
    return declared


@dataclass(frozen=True)
class Subscription(Generic[E]):
    """One handler on one topic. Exactly one of `in_tx` / `long` / `batch` is given.

    `in_tx` handlers run inside the batch transaction (fast, database-only work).
    `long` handlers run outside it (skills that take minutes) and open their own
    transactions through the runtime, claiming the inbox in the one that records the outcome.
    `batch` handlers get the whole decoded batch in one transaction, for set-based SQL;
    with `inbox=True` only the events not processed before (claimed in one round trip),
    with `inbox=False` every event: the handler is idempotent by itself (the audit sink
    upserts on the audit id).
    `accept` lists the event types that belong on the topic; anything else is dead-lettered.
    """

    name: str
    topic: str
    accept: tuple[type[E], ...]
    in_tx: Callable[[E, Tx], Awaitable[None]] | None = None
    long: Callable[[E, AgentRuntime], Awaitable[None]] | None = None
    batch: Callable[[list[E], Tx], Awaitable[None]] | None = None
    inbox: bool = True
    max_records: int = 500
    emits: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        handlers = [h for h in (self.in_tx, self.long, self.batch) if h is not None]
        if len(handlers) != 1:
            raise ValueError(
                f"subscription {self.name!r}: give exactly one of in_tx, long, "
                f"batch (got {len(handlers)})"
            )
        if not self.accept:
            raise ValueError(f"subscription {self.name!r}: accepts no event type")
        if self.max_records < 1:
            raise ValueError(f"subscription {self.name!r}: max_records must be at least 1")
        if not self.inbox and self.batch is None:
            raise ValueError(f"subscription {self.name!r}: only batch handlers may skip the inbox")
        declared = self.emits or emitted_by(handlers[0])
        unknown = [t for t in declared if t not in EVENTS]
        if unknown:
            raise ValueError(f"subscription {self.name!r} emits unknown event types {unknown}")
        object.__setattr__(self, "emits", declared)

    @property
    def accepted(self) -> tuple[str, ...]:
        """The names of the accepted event types."""
        return tuple(t.EVENT_TYPE for t in self.accept)


LoopFn = Callable[["AgentRuntime"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Loop:
    """A background loop of the agent (a schedule, a due-list): started with the agent,
    cancelled when it stops; its work is claimed in the database, so the next process resumes."""

    name: str
    run: LoopFn
    emits: tuple[str, ...] = ()

    @classmethod
    def of(cls, fn: LoopFn) -> Loop:
        """A loop named after its function, with the events it declared with `@emits`."""
        return cls(getattr(fn, "__name__", "loop"), fn, emitted_by(fn))
