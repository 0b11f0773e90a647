"""Chimera's error hierarchy and the specification's error format.

Errors are split by what the caller can do about them:

    ChimeraError
    ├── StackError            the local stack could not be set up or started (operator fixes)
    ├── ConfigError           settings are missing or contradictory (operator fixes)
    └── OperationError        an operation failed; carries the spec's error format
        ├── TransientError    retry with exponential backoff (network, rate limits, quotas)
        ├── ValidationError   bad input: return at once, never retry
        ├── PermanentError    no retry; alert a person (revoked token, refused content)
        └── UnknownError      unexpected: log the full stack trace, alert a person

Driver and library errors are translated at the boundary (`raise TransientError(...) from exc`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorCategory(StrEnum):
    """The specification's four error categories."""

    TRANSIENT = "transient"
    VALIDATION = "validation"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"

    @property
    def retryable(self) -> bool:
        return self is ErrorCategory.TRANSIENT

    @property
    def alerts(self) -> bool:
        """Whether a person must be told (the spec: permanent and unknown errors)."""
        return self in (ErrorCategory.PERMANENT, ErrorCategory.UNKNOWN)


class ErrorInfo(BaseModel):
    """The specification's error response format."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Machine-readable code, e.g. RATE_LIMITED.")
    message: str = Field(description="Human-readable message.")
    details: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    retryable: bool = False
    category: ErrorCategory = ErrorCategory.UNKNOWN


class ChimeraError(Exception):
    """Root of every error Chimera raises on purpose."""


class StackError(ChimeraError):
    """The local Kafka/PostgreSQL stack could not be prepared, started or stopped."""


class ConfigError(ChimeraError):
    """A setting is missing or invalid."""


class OperationError(ChimeraError):
    """An operation failed; `info` is the specification's error format."""

    category = ErrorCategory.UNKNOWN
    default_code = "UNKNOWN_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = dict(details or {})
        # Seconds the remote side asked us to wait (Retry-After), when it said.
        self.retry_after = retry_after

    @property
    def info(self) -> ErrorInfo:
        return ErrorInfo(
            code=self.code,
            message=self.message,
            details=self.details,
            retryable=self.category.retryable,
            category=self.category,
        )


class TransientError(OperationError):
    """Worth retrying later: timeouts, connection resets, rate limits, exhausted quotas."""

    category = ErrorCategory.TRANSIENT
    default_code = "TRANSIENT_ERROR"


class ValidationError(OperationError):
    """The input is wrong; retrying the same input cannot help."""

    category = ErrorCategory.VALIDATION
    default_code = "VALIDATION_ERROR"


class PermanentError(OperationError):
    """Will not succeed without a person: bad credentials, refused content, missing config."""

    category = ErrorCategory.PERMANENT
    default_code = "PERMANENT_ERROR"


class UnknownError(OperationError):
    """An unexpected failure; logged with its stack trace and alerted."""

    category = ErrorCategory.UNKNOWN
    default_code = "UNKNOWN_ERROR"
