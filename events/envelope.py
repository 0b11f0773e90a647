"""The envelope around every event: identity, type, version, time and lineage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

P = TypeVar("P", bound=BaseModel)


class Payload(BaseModel):
    """Base for event payloads: strict at the edges, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Envelope(BaseModel, Generic[P]):
    """Every event on every topic.

    - `event_id` identifies this event everywhere; consumers drop duplicates by it.
    - `correlation_id` is one per workflow, starting at the trend, copied onto every
      event the workflow causes; `causation_id` is the event that directly caused this one.
    - `schema_version` lets consumers accept older versions of a payload.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    EVENT_TYPE: ClassVar[str]
    schema_version_current: ClassVar[int] = 1
    # Versions this code can still read; older payloads are upgraded in `upgrade()`.
    schema_versions_accepted: ClassVar[frozenset[int]] = frozenset({1})

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="Unique id of this event; consumers drop a second delivery by it.",
    )
    event_type: str = Field(description="The event type name, e.g. TrendDiscovered.")
    schema_version: int = Field(
        default=1, ge=1, description="Version of the payload's shape (see `upgrade`)."
    )
    occurred_at: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When it happened, ISO 8601 with a time zone.",
    )
    producer: str = Field(
        min_length=1,
        max_length=100,
        description="Who emitted it: an agent name or an outside producer.",
    )
    correlation_id: uuid.UUID = Field(
        description="The workflow's id: the first event's id, copied onto every event it causes."
    )
    causation_id: uuid.UUID | None = Field(
        default=None, description="The id of the event that directly caused this one, if any."
    )
    payload: P = Field(description="The event's data; its shape depends on `event_type`.")

    @classmethod
    def create(
        cls,
        payload: P,
        *,
        producer: str,
        correlation_id: uuid.UUID | None = None,
        causation: Envelope[Any] | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Self:
        """A new event; with `causation`, lineage is copied from the causing event."""
        if causation is not None:
            correlation_id = correlation_id or causation.correlation_id
        event_id = event_id or uuid.uuid4()
        return cls(
            event_id=event_id,
            event_type=cls.EVENT_TYPE,
            schema_version=cls.schema_version_current,
            producer=producer,
            correlation_id=correlation_id or event_id,
            causation_id=causation.event_id if causation is not None else None,
            payload=payload,
        )

    @model_validator(mode="after")
    def _type_matches(self) -> Self:
        expected = getattr(type(self), "EVENT_TYPE", None)
        if expected is not None and self.event_type != expected:
            raise ValueError(f"event_type {self.event_type!r} is not {expected!r}")
        if self.schema_version not in self.schema_versions_accepted:
            raise ValueError(
                f"schema_version {self.schema_version} is not one of "
                f"{sorted(self.schema_versions_accepted)}"
            )
        return self

    @classmethod
    def upgrade(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Bring an accepted older `schema_version` up to the current shape (default: as is)."""
        return raw
