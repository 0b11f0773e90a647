"""The publish agent's content archive: every successful publication committed to Git.

The publish agent reads its own `publish.events` (subscription `publish.archive`): for each
`Published` it reads what the archive records about the content (`agents.repositories.archive`)
and runs `skill_archive_content`, which commits through the Git MCP server. Driven by the
event, not by the publishing code path, so nothing is lost: a crash between the publication's
commit and the archive's is redelivered; the skill is idempotent, so redeliveries and replays
commit nothing new; the inbox row is written with the outcome's audit entry.

One archive per deployment, one writer at a time: replicas take a PostgreSQL advisory lock
around the skill call (Git's index admits one writer). A transient failure (the server timing
out) is retried by the consumer's policy; a permanent one dead-letters the event with an
alert, to be redriven once fixed (`chimera dlq redrive publish.events`).
With the archive off (no CHIMERA_ARCHIVE_REPO) the events are only marked processed.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from pydantic import ValidationError as PydanticValidationError

from agents.repositories import archive
from agents.runtime import AgentRuntime, emits
from core.errors import ErrorCategory, ErrorInfo, OperationError, PermanentError, TransientError
from core.errors import ValidationError as InputError
from events import AuditRecorded, Published, PublishFailed
from skills.archive.skill import ArchiveContentInput, archive_content
from skills.media.footage.models import AssetRights

CONSUMER = "publish.archive"
LOCK = zlib.crc32(b"chimera-content-archive")


@asynccontextmanager
async def _one_writer(pool: asyncpg.Pool) -> AsyncIterator[None]:
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK)


def _licences(assets: list[dict[str, object]]) -> list[AssetRights]:
    """The rights ledger the generate agent recorded (entries that are not one are skipped)."""
    valid = []
    for asset in assets:
        try:
            valid.append(AssetRights.model_validate(asset))
        except PydanticValidationError:
            continue
    return valid


def _raise(error: ErrorInfo) -> OperationError:
    kind: type[OperationError] = {
        ErrorCategory.TRANSIENT: TransientError,
        ErrorCategory.VALIDATION: InputError,
    }.get(error.category, PermanentError)
    return kind(error.message, code=error.code, details=error.details)


def on_publication_event() -> Callable[[Published | PublishFailed, AgentRuntime], Awaitable[None]]:
    @emits(AuditRecorded)
    async def archive_published(event: Published | PublishFailed, rt: AgentRuntime) -> None:
        enabled = rt.skills.ctx.settings.mcp.archive_enabled
        if not isinstance(event, Published) or not enabled:
            async with rt.transaction() as tx:
                await tx.claim(CONSUMER, event)
            return
        async with rt.pool.acquire() as conn:
            found = await archive.record(conn, event.payload.content_id)
        if found is None or not found.publications:
            async with rt.transaction() as tx:
                if await tx.claim(CONSUMER, event):
                    await tx.audit(
                        "archive:skipped",
                        cause=event,
                        input_data={"content_id": event.payload.content_id},
                        output_data={"reason": "no such content or nothing published"},
                    )
            return
        data = ArchiveContentInput.model_validate(
            {
                "content_id": found.content_id,
                "title": found.title,
                "script": found.script,
                "metadata": found.metadata,
                "trend": found.trend,
                "licences": [a.model_dump() for a in _licences(found.assets)],
                "publications": found.publications,
                "approvals": found.approvals,
            }
        )
        async with _one_writer(rt.pool):
            output = await rt.skills.traced(event.correlation_id)(archive_content, data)
        if not output.success:
            raise _raise(output.error or ErrorInfo(code="ARCHIVE_FAILED", message="no reason"))
        async with rt.transaction() as tx:
            if not await tx.claim(CONSUMER, event):
                return
            await tx.audit(
                "archive:committed" if output.committed else "archive:unchanged",
                cause=event,
                input_data={"content_id": found.content_id},
                output_data={"commit": output.commit, "files": output.files},
            )

    return archive_published
