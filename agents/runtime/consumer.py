"""How every agent consumes: batches, at-least-once, effectively-once, dead letters.

Per batch that FastStream hands over (manual acknowledgement, auto-commit off):
1. decode each record strictly; those that fail go to the dead-letter topic (once per record
   and consumer group, with its original bytes: `agents.runtime.dead_letters`);
2. run the handler for the valid ones in one transaction (inbox + state + outbox); if that
   fails, fall back to one transaction per record to isolate the bad one;
3. a record whose handler fails with a validation or permanent error is dead-lettered at
   once; a transient error is retried by the agent's `RetryPolicy` (exponential backoff,
   at most 3 retries), then dead-lettered; either way an OperatorAlert is raised. A retry
   that would wait longer than the consumer may hold its batch is parked instead
   (`agents.runtime.parking`): the batch commits and the unpark loop runs it when due;
4. only then are the offsets committed.
Each valid record is handled inside a consume span whose parent is the `traceparent` in its
headers (see core.observability.tracing), with its ids in the log context; what the
handler emits carries that span's context.
If the database or the dead-letter topic cannot be reached at all, nothing is committed: the
consumer rewinds to the batch's first records (nack) and tries again after a pause, so an
outage never turns into lost or dead-lettered work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agents.runtime.dead_letters import Refusal, send_dead_letters
from agents.runtime.parking import ParkedRecord, park_record, unpark_record
from agents.runtime.subscription import Subscription
from core.errors import (
    ErrorCategory,
    ErrorInfo,
    OperationError,
    TransientError,
)
from core.ids import derived_id
from core.observability import tracing
from core.observability.logs import log_context
from core.retry import RetryPolicy
from events import DecodeError, Envelope, OperatorAlert, Topics, decode
from events.catalog import OperatorAlertPayload
from events.wire import DeadLetterReason, qualified_name

if TYPE_CHECKING:
    from agents.runtime.agent import AgentRuntime

log = logging.getLogger("chimera.consumer")

# Errors that mean "the database is not there right now", not "this message is bad".
INFRA_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
)
# Worth an immediate retry of the same record.
RETRYABLE_DB = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class DeadLetter(Exception):
    """Internal: this record must go to the dead-letter topic for `info`'s reason."""

    def __init__(self, info: ErrorInfo, exc: BaseException) -> None:
        super().__init__(info.message)
        self.info = info
        self.exc = exc


class InfrastructureDown(Exception):
    """Internal: the database (or Kafka for dead letters) is unreachable; retry the batch."""


class Parked(Exception):
    """Internal: this record's retry is due later than the batch may wait; park it."""

    def __init__(self, info: ErrorInfo, attempt: int, delay: float) -> None:
        super().__init__(info.message)
        self.info = info
        self.attempt = attempt
        self.delay = delay


@dataclass
class ConsumerStats:
    """What one consumer did, counted (also exported as Prometheus counters)."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    parked: int = 0
    dead_letters_repeated: int = 0  # refused again, dead-lettered before: not sent again

    def as_dict(self) -> dict[str, int]:
        return {
            "processed": self.processed,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "retries": self.retries,
        }


def classify(exc: BaseException) -> ErrorInfo:
    if isinstance(exc, OperationError):
        return exc.info
    if isinstance(exc, RETRYABLE_DB):
        return TransientError(str(exc), code="DB_CONFLICT").info
    return ErrorInfo(
        code="HANDLER_ERROR",
        message=f"{type(exc).__name__}: {exc}",
        category=ErrorCategory.UNKNOWN,
        retryable=False,
        details={"exception": type(exc).__name__},
    )


class BatchProcessor:
    """Runs one subscription's batches with the semantics described in the module docstring."""

    def __init__(
        self,
        runtime: AgentRuntime,
        sub: Subscription[Any],
        group: str,
        topics: Topics,
        retry: RetryPolicy,
        max_inline_wait: float,
    ) -> None:
        self.rt = runtime
        self.sub = sub
        self.group = group
        self.topics = topics
        self.retry = retry
        # A retry that would wait longer than this is parked, not slept in the batch.
        self.max_inline_wait = max_inline_wait
        self.stats = ConsumerStats()
        self._current: Envelope[Any] | None = None  # the event being handled in a batch
        self._spans: dict[uuid.UUID, Span] = {}  # consume spans of the batch, by event id
        self.metrics = runtime.ops.metrics
        # Exported at 0 from the start, so that rates and alerts work before the first event.
        for counter in (
            self.metrics.processed,
            self.metrics.duplicates,
            self.metrics.retries,
            self.metrics.parked,
        ):
            counter.labels(runtime.name, sub.name)

    def _count(self, kind: str, n: int = 1) -> None:
        """Stats for tests and benchmarks, and the Prometheus counter of the same thing."""
        if not n:
            return
        setattr(self.stats, kind, getattr(self.stats, kind) + n)
        counter = {
            "processed": self.metrics.processed,
            "duplicates": self.metrics.duplicates,
            "retries": self.metrics.retries,
            "parked": self.metrics.parked,
        }[kind]
        counter.labels(self.rt.name, self.sub.name).inc(n)

    @contextlib.contextmanager
    def _handling(self, event: Envelope[Any]) -> Iterator[None]:
        """Within the block, `event`'s consume span is current and its ids are logged."""
        span = self._spans.get(event.event_id)
        with log_context(
            event_id=event.event_id,
            event_type=event.event_type,
            correlation_id=event.correlation_id,
        ):
            if span is None:
                yield
                return
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield

    def _start_spans(self, valid: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]]) -> None:
        tracer = tracing.tracer()
        self._spans = {}
        if not tracing.exporting() and self.sub.batch is not None and not self.sub.emits:
            # Nothing records spans, and a set-based handler that emits nothing has no context
            # to carry on nor per-event log lines (the audit sink: a fifth of its time).
            return
        if not tracing.exporting():
            # Nothing records spans: keep the trace and span ids (headers, logs), skip the SDK.
            for record, event in valid:
                span = tracing.child_of(tracing.extract(record.headers, event.correlation_id))
                self._spans[event.event_id] = span
                tracing.remember(event.correlation_id, span.get_span_context())
            return
        for record, event in valid:
            self._spans[event.event_id] = tracer.start_span(
                f"{record.topic} process",
                context=tracing.extract(record.headers, event.correlation_id),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": record.topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.consumer.group.name": self.group,
                    "messaging.message.id": str(event.event_id),
                    "chimera.agent": self.rt.name,
                    "chimera.consumer": self.sub.name,
                    "chimera.event_type": event.event_type,
                    "chimera.correlation_id": str(event.correlation_id),
                },
            )
            tracing.remember(event.correlation_id, self._spans[event.event_id].get_span_context())

    async def process(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        """Process a batch; raises InfrastructureDown when it must be redelivered."""
        valid: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]] = []
        dead: list[tuple[ConsumerRecord[Any, Any], DeadLetter]] = []
        accepted = self.sub.accepted
        for record in records:
            try:
                valid.append((record, decode(record.value, accepted)))
            except DecodeError as exc:
                info = ErrorInfo(
                    code=exc.code, message=exc.message, category=ErrorCategory.VALIDATION
                )
                dead.append((record, DeadLetter(info, exc)))
        self._start_spans(valid)
        # Set-based handlers emit for many events in one call: they find each event's span
        # through its causation id in this map (see tracing.headers_for).
        token = tracing.batch_spans.set(
            {event_id: span.get_span_context() for event_id, span in self._spans.items()}
        )
        failure: BaseException | None = None
        try:
            await self._process(valid, dead)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            tracing.batch_spans.reset(token)
            for span in self._spans.values():
                if failure is not None:
                    span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
                span.end()
            self._spans = {}

    async def _process(
        self,
        valid: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]],
        dead: list[tuple[ConsumerRecord[Any, Any], DeadLetter]],
    ) -> None:
        # The whole batch in one transaction; if it fails, each record on its own. For
        # per-event handlers the record that raised is known: it is not run again when its
        # error is not retryable, and that run counts as its first attempt otherwise. For
        # set-based handlers the batch run counts as every record's first attempt.
        # Dead letters of decoded events are logged with the event's context too.
        events_of = {id(record): event for record, event in valid}
        attempted: dict[Any, int] = {}
        if (self.sub.in_tx is not None or self.sub.batch is not None) and len(valid) > 1:
            self._current = None
            try:
                await self._batch_in_one_tx(valid)
                valid = []
            except INFRA_ERRORS as exc:
                raise InfrastructureDown(str(exc)) from exc
            except Exception as exc:
                log.info(
                    "%s: batch of %d failed; retrying record by record", self.sub.name, len(valid)
                )
                culprit = self._current if self.sub.in_tx is not None else None
                for _, event in valid:
                    if culprit is None or event is culprit:
                        attempted[event.event_id] = 1
                info = classify(exc)
                if culprit is not None and not info.retryable:
                    dead += [(r, DeadLetter(info, exc)) for r, e in valid if e is culprit]
                    valid = [(r, e) for r, e in valid if e is not culprit]
        for record, event in valid:
            try:
                with self._handling(event):
                    await self._one_with_retries(event, attempted.get(event.event_id, 0))
            except Parked as parked:
                await self.park(record, event, parked)
            except DeadLetter as exc:
                dead.append((record, exc))
                if (span := self._spans.get(event.event_id)) is not None:
                    span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {exc.info.code}"))
        await self.dead_letter(dead, events_of)

    async def _batch_in_one_tx(self, items: list[tuple[Any, Envelope[Any]]]) -> None:
        processed = duplicates = 0
        async with self.rt.transaction() as tx:
            if self.sub.batch is not None:
                events = [event for _, event in items]
                fresh = await tx.claim_many(self.sub.name, events) if self.sub.inbox else events
                if fresh:
                    await self.sub.batch(fresh, tx)
                processed, duplicates = len(fresh), len(events) - len(fresh)
            for _, event in items if self.sub.in_tx is not None else ():
                assert self.sub.in_tx is not None
                self._current = event
                with self._handling(event):
                    if await tx.claim(self.sub.name, event):
                        await self.sub.in_tx(event, tx)
                        processed += 1
                    else:
                        duplicates += 1
        self._count("processed", processed)
        self._count("duplicates", duplicates)

    async def _one(self, event: Envelope[Any]) -> None:
        if self.sub.in_tx is not None or self.sub.batch is not None:
            await self._batch_in_one_tx([(None, event)])
            return
        assert self.sub.long is not None
        if await self.rt.seen(self.sub.name, event.event_id):
            self._count("duplicates")
            return
        await self.sub.long(event, self.rt)
        self._count("processed")

    async def _one_with_retries(self, event: Envelope[Any], attempted: int = 0) -> None:
        """Run `event`'s handler until it succeeds or the retry policy gives up (DeadLetter),
        or a retry is due later than this batch may wait (Parked)."""
        attempt = attempted
        while True:
            attempt += 1
            try:
                await self._one(event)
                return
            except INFRA_ERRORS as exc:
                raise InfrastructureDown(str(exc)) from exc
            except Exception as exc:
                info = classify(exc)
                if info.category is ErrorCategory.UNKNOWN:
                    log.error(
                        "%s: %s failed\n%s",
                        self.sub.name,
                        event.event_id,
                        "".join(traceback.format_exception(exc)),
                    )
                plan = self.retry.plan(
                    attempt,
                    retryable=info.retryable,
                    retry_after=getattr(exc, "retry_after", None),
                    max_inline_wait=self.max_inline_wait,
                )
                if plan.action == "give_up":
                    info.details.setdefault("attempts", attempt)
                    raise DeadLetter(info, exc) from exc
                if plan.action == "park":
                    raise Parked(info, attempt, plan.delay) from exc
                self._count("retries")
                await asyncio.sleep(plan.delay)

    async def park(
        self, record: ConsumerRecord[Any, Any], event: Envelope[Any], parked: Parked
    ) -> None:
        """Keep `record` for a retry in `parked.delay` seconds (committed with this batch)."""
        try:
            async with self.rt.transaction() as tx:
                await park_record(
                    tx.conn,
                    self.sub.name,
                    record,
                    event,
                    attempt=parked.attempt,
                    delay=parked.delay,
                    error=parked.info,
                )
        except INFRA_ERRORS as exc:
            raise InfrastructureDown(str(exc)) from exc
        self._count("parked")
        log.warning(
            "%s: parked %s for %.0fs after attempt %d: %s",
            self.sub.name,
            event.event_id,
            parked.delay,
            parked.attempt,
            parked.info.code,
        )

    async def retry_parked(self, row: ParkedRecord) -> None:
        """Run a parked record again (the unpark loop calls this when it is due)."""
        record = row.record
        try:
            event = decode(record.value, self.sub.accepted)
        except DecodeError as exc:  # the code changed since it was parked: refuse it now
            info = ErrorInfo(code=exc.code, message=exc.message, category=ErrorCategory.VALIDATION)
            await self.dead_letter([(record, DeadLetter(info, exc))])
            return
        with self._handling(event):
            try:
                await self._one_with_retries(event, row.attempt)
            except Parked as parked:
                await self.park(record, event, parked)
                return
            except DeadLetter as letter:
                await self.dead_letter([(record, letter)])
        async with self.rt.transaction() as tx:
            await unpark_record(tx.conn, self.sub.name, event.event_id)

    def refusal(self, record: ConsumerRecord[Any, Any], letter: DeadLetter) -> Refusal:
        """Why this group refuses `record`, and the alert (one per record and group)."""
        info = letter.info
        reason = DeadLetterReason(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=self.group,
            consumer=self.sub.name,
            error_code=info.code,
            error_category=info.category.value,
            exception_class=qualified_name(letter.exc),
            exception_message=info.message,
            timestamp=datetime.now(UTC).isoformat(),
            original_timestamp=record.timestamp,
            original_timestamp_type=record.timestamp_type,
            stacktrace="".join(traceback.format_exception(letter.exc)),
        )
        alert_id = derived_id(
            "dlq-alert", record.topic, record.partition, record.offset, self.group
        )
        alert = OperatorAlert(
            event_id=alert_id,
            event_type=OperatorAlert.EVENT_TYPE,
            producer=self.rt.name,
            correlation_id=alert_id,
            payload=OperatorAlertPayload(
                severity="error",
                source=self.rt.name,
                error=info,
                subject=f"{record.topic}/{record.partition}/{record.offset}",
                context={
                    "dead_letter_topic": Topics.dlq(record.topic),
                    "consumer_group": self.group,
                },
            ),
        )
        return Refusal(record, reason, alert)

    async def dead_letter(
        self,
        letters: list[tuple[ConsumerRecord[Any, Any], DeadLetter]],
        events_of: dict[int, Envelope[Any]] | None = None,
    ) -> None:
        """Original bytes, key and headers to `<topic>.dlq`, plus why, once per record and
        group (`agents.runtime.dead_letters`); then a person is alerted. Logged with the
        decoded event's context when there is one (`events_of`: by id() of the record)."""
        if not letters:
            return
        refusals = [self.refusal(record, letter) for record, letter in letters]
        try:
            outcome = await send_dead_letters(
                self.rt.transaction, self.rt.producer, self.rt.settings, refusals
            )
        except Exception as exc:
            raise InfrastructureDown(f"cannot dead-letter: {type(exc).__name__}: {exc}") from exc
        self.stats.dead_lettered += len(outcome.sent)
        self.stats.dead_letters_repeated += len(outcome.repeated)
        for refusal in outcome.sent:
            self.metrics.dead_letters.labels(
                self.rt.name, self.sub.name, refusal.record.topic, refusal.reason.error_category
            ).inc()
        for refusal in outcome.repeated:
            log.info(
                "%s: %s/%d/%d was dead-lettered for %s before; not again",
                self.sub.name,
                refusal.record.topic,
                refusal.record.partition,
                refusal.record.offset,
                self.group,
            )
        for refusal in outcome.sent:
            cause = (events_of or {}).get(id(refusal.record))
            with self._handling(cause) if cause is not None else contextlib.nullcontext():
                log.warning(
                    "%s: dead-lettered %s/%d/%d: %s %s",
                    self.sub.name,
                    refusal.record.topic,
                    refusal.record.partition,
                    refusal.record.offset,
                    refusal.reason.error_code,
                    refusal.reason.exception_message,
                )
