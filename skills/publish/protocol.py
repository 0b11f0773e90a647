"""The one small interface every publisher implements."""

from __future__ import annotations

from typing import Protocol

from skills.publish.models import (
    EngagementCounts,
    PublishContentInput,
    PublishResult,
    ReconcileQuery,
)


class Publisher(Protocol):
    """Publishes to one platform, reads engagement, and finds publications again.

    `find_existing` answers after an `OUTCOME_UNKNOWN` error: the publication if the platform
    has it, None if it certainly does not. A platform that cannot be asked raises
    `PermanentError(code="RECONCILE_UNSUPPORTED")` instead of guessing.
    """

    platform: str

    async def publish(self, request: PublishContentInput) -> PublishResult: ...

    async def fetch_engagement(self, post_id: str) -> EngagementCounts: ...

    async def find_existing(self, query: ReconcileQuery) -> PublishResult | None: ...
