"""The specification's Skill Interface Standard, and what every skill shares.

A skill is an async function taking one validated `SkillInput` and returning a `SkillOutput`
with `success` and `error`. Implementations are written as

    @skill("skill_fetch_trends")
    async def fetch_trends(data: FetchTrendsInput, ctx: SkillContext) -> FetchTrendsOutput: ...

and raise `chimera.errors` exceptions when they fail. The `@skill` wrapper validates input,
retries transient errors with exponential backoff (at most 3 retries, honouring Retry-After),
and turns every failure into the output's `error` in the specification's format, so callers
get the standard signature: `await skills.skill_fetch_trends(input) -> output`.

Rules for output models: every field except `success` and `error` has a default, so a failed
call can be represented. Inputs evolve by adding optional fields only.
Skills know nothing of Kafka; they get their resources (settings, HTTP client, database pool)
from the `SkillContext` built by the caller's composition root.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, get_type_hints

import httpx
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from chimera.errors import (
    ErrorCategory,
    ErrorInfo,
    OperationError,
    TransientError,
    UnknownError,
    ValidationError,
)
from chimera.settings import Settings

log = logging.getLogger("chimera.skills")


class SkillInput(BaseModel):
    """Base class for skill inputs: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")


class SkillOutput(BaseModel):
    """Base class for skill outputs."""

    success: bool
    error: ErrorInfo | None = None


InT = TypeVar("InT", bound=SkillInput)
OutT = TypeVar("OutT", bound=SkillOutput)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient errors (the spec: at most 3 retries)."""

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.1
    # A server asking us to wait longer than this (a daily quota, say) is not waited for
    # inline: the caller gets the transient error and its retry_after to schedule.
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff *= 1 + random.uniform(0, self.jitter)
        # A server's Retry-After is a floor: waiting less only earns another refusal.
        return max(backoff, retry_after or 0.0)


class SkillObserver(Protocol):
    """Told about every finished skill call (agents use it to emit audit events)."""

    async def __call__(self, call: SkillCall) -> None: ...


@dataclass(frozen=True)
class SkillCall:
    """One finished call: what went in, what came out, how long and how many attempts."""

    name: str
    input: SkillInput | dict[str, Any]
    output: SkillOutput
    attempts: int
    duration_s: float


@dataclass(frozen=True)
class Limit:
    """A documented platform limit: at most `calls` per `per_seconds` (e.g. 75 per 900 s)."""

    calls: int
    per_seconds: float


class RateLimiter(Protocol):
    """Waits until a call is allowed; calls over the limit wait in order, none is dropped.

    `bucket` names the platform, operation and credential, e.g. "x:trends:app-1a2b".
    """

    async def acquire(self, bucket: str, limit: Limit, cost: int = 1) -> None: ...

    async def hold(self, bucket: str, seconds: float) -> None:
        """Block the bucket for `seconds` (the platform said 429 with Retry-After)."""
        ...


@dataclass
class SkillContext:
    """Resources a skill may use, built by the caller. Add fields with defaults only."""

    settings: Settings
    http: httpx.AsyncClient
    pool: Any = None  # asyncpg.Pool when the caller has a database (rate limits, snapshots)
    limiter: RateLimiter | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    observers: list[SkillObserver] = field(default_factory=list)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    extras: dict[str, Any] = field(default_factory=dict)


Impl = Callable[[InT, SkillContext], Awaitable[OutT]]


@dataclass(frozen=True)
class SkillSpec(Generic[InT, OutT]):
    """A registered skill: its name, models and implementation."""

    name: str
    description: str
    input_model: type[InT]
    output_model: type[OutT]
    impl: Impl[InT, OutT]

    def schemas(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_model.model_json_schema(),
            "output_schema": self.output_model.model_json_schema(),
        }

    async def __call__(self, data: InT | dict[str, Any], ctx: SkillContext) -> OutT:
        return await invoke(self, data, ctx)


REGISTRY: dict[str, SkillSpec[Any, Any]] = {}


def skill(name: str) -> Callable[[Impl[InT, OutT]], SkillSpec[InT, OutT]]:
    """Register an implementation under `name`; models come from its annotations."""

    def register(impl: Impl[InT, OutT]) -> SkillSpec[InT, OutT]:
        hints = get_type_hints(impl)
        params = list(inspect.signature(impl).parameters)
        input_model = hints[params[0]]
        output_model = hints["return"]
        if name in REGISTRY:
            raise ValueError(f"skill {name!r} registered twice")
        doc = inspect.getdoc(impl) or ""
        spec = SkillSpec(name, doc.split("\n\n")[0], input_model, output_model, impl)
        REGISTRY[name] = spec
        return spec

    return register


def failure(output_model: type[OutT], error: ErrorInfo) -> OutT:
    return output_model(success=False, error=error)


async def invoke(spec: SkillSpec[InT, OutT], data: InT | dict[str, Any], ctx: SkillContext) -> OutT:
    """Run a skill by the standard: validate, retry transient errors, never raise for errors."""
    began = time.monotonic()
    attempts = 0
    try:
        parsed = data if isinstance(data, spec.input_model) else spec.input_model.model_validate(
            data.model_dump() if isinstance(data, BaseModel) else data
        )
    except PydanticValidationError as exc:
        output = failure(spec.output_model, ValidationError(
            f"invalid input for {spec.name}: {exc.error_count()} problem(s)",
            code="INVALID_INPUT",
            # Through JSON: error contexts may hold exception objects, which are not data.
            details={"errors": json.loads(exc.json(include_url=False, include_input=False))},
        ).info)
        await _notify(ctx, spec.name, data, output, 0, began)
        return output

    while True:
        attempts += 1
        try:
            output = await spec.impl(parsed, ctx)
            break
        except TransientError as exc:
            if attempts > ctx.retry.max_retries or (
                    exc.retry_after is not None and exc.retry_after > ctx.retry.max_retry_after):
                exc.details.setdefault("attempts", attempts)
                output = failure(spec.output_model, exc.info)
                break
            wait = ctx.retry.delay(attempts, exc.retry_after)
            log.warning("%s: transient error %s, retry %d in %.1fs", spec.name, exc.code,
                        attempts, wait)
            await ctx.sleep(wait)
        except OperationError as exc:
            if exc.category is ErrorCategory.UNKNOWN:
                log.exception("%s failed unexpectedly", spec.name)
            else:
                log.warning("%s failed (%s): %s", spec.name, exc.code, exc.message)
            output = failure(spec.output_model, exc.info)
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed unexpectedly", spec.name)
            output = failure(spec.output_model, UnknownError(
                f"{type(exc).__name__}: {exc}", code="UNEXPECTED_ERROR",
                details={"exception": type(exc).__name__},
            ).info)
            break
    await _notify(ctx, spec.name, parsed, output, attempts, began)
    return output


async def _notify(ctx: SkillContext, name: str, data: Any, output: SkillOutput, attempts: int,
                  began: float) -> None:
    call = SkillCall(name, data, output, attempts, time.monotonic() - began)
    for observer in ctx.observers:
        await observer(call)


class BoundSkills:
    """The registry bound to one context: `await skills.skill_fetch_trends(input)`."""

    def __init__(self, ctx: SkillContext) -> None:
        self.ctx = ctx

    def __getattr__(self, name: str) -> Callable[[Any], Awaitable[SkillOutput]]:
        try:
            spec = REGISTRY[name]
        except KeyError:
            raise AttributeError(f"no skill named {name!r}") from None

        async def call(data: Any) -> SkillOutput:
            return await invoke(spec, data, self.ctx)

        return call
