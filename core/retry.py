"""The one retry rule: which failures are tried again, how often, and how long to wait.

The specification: transient errors are retried with exponential backoff, at most 3 times;
validation, permanent and unknown errors are not retried. `RetryPolicy` says it once and is
used everywhere something is tried again:

* skills (`skills.base.invoke`): a transient error inside a skill call;
* consumers (`agents.runtime.consumer`): a handler that raised a transient error;
* workflows (`agents.orchestrator`): a publication that failed transiently is rescheduled.

Waits grow as `base_delay * 2**(attempt-1)`, capped at `max_delay`, plus up to `jitter` of
that at random (so replicas that failed together do not retry together). A server's
Retry-After is a floor (waiting less only earns another refusal), itself capped at
`max_retry_after`. A caller that must not wait long (a consumer holding a partition, whose
poll interval bounds how long a batch may take) asks `plan(...)` with its `max_inline_wait`
and parks the work for later when the wait is longer, instead of sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["RetryPlan", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPlan:
    """What to do after a failed attempt: give up, wait here and retry, or park until later."""

    action: Literal["give_up", "wait", "park"]
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap and jitter; at most `max_retries` retries."""

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.1
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"inconsistent retry policy: {self}")

    def retries_left(self, attempt: int) -> bool:
        """Whether attempt number `attempt` (1-based, the one that just failed) may be retried."""
        return attempt <= self.max_retries

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retrying after failed attempt `attempt` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1))
        backoff *= 1 + random.uniform(0, self.jitter)
        return max(backoff, min(retry_after or 0.0, self.max_retry_after))

    def plan(
        self,
        attempt: int,
        *,
        retryable: bool,
        retry_after: float | None = None,
        max_inline_wait: float | None = None,
    ) -> RetryPlan:
        """After failed attempt `attempt`: give up, wait `delay` inline, or park for `delay`.

        A Retry-After beyond `max_retry_after` means "not soon" (a daily quota): give up and
        let the caller's own schedule (or a person) decide.
        """
        if not retryable or not self.retries_left(attempt):
            return RetryPlan("give_up")
        if retry_after is not None and retry_after > self.max_retry_after:
            return RetryPlan("give_up")
        wait = self.delay(attempt, retry_after)
        if max_inline_wait is not None and wait > max_inline_wait:
            return RetryPlan("park", wait)
        return RetryPlan("wait", wait)
