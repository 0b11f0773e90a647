"""The pipeline's tools: what an assistant may read, and the few things it may ask for.

Reads go through Chimera's own read-only views (`agents.repositories.reports`), each in a
READ ONLY transaction; nothing here hands out SQL. What changes something goes on Kafka like
every other command, validated first: trends (`inject_trends`, the same strict decoding as
`chimera inject`, trends only), review decisions (`approve_content`, `reject_content`, with the
caller as the actor, only for content that waits for approval) and publication requests
(`request_publication`: recorded for the reviewers; publishing itself is never a tool).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from aiokafka.errors import KafkaError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from agents.repositories import reports, reviews
from chimera.auth.roles import Action
from chimera.mcp.context import ToolContext
from chimera.mcp.tools import READS, Hints, McpTool, pipeline_tool
from chimera.ops import dlq, replay, status
from chimera.ops import review as review_ops
from chimera.ops.inject import parse_one, send
from core.db import Conn
from core.errors import ChimeraError, TransientError, ValidationError
from core.ids import derived_id
from events import ApproveContent, DecodeError, RejectContent, TrendDiscovered
from events.catalog import ContentEdits

PRODUCER = "mcp"
AWAITING_APPROVAL = "awaiting_approval"
Row = dict[str, JsonValue]
In = TypeVar("In", bound=BaseModel)


class Arguments(BaseModel):
    """Tool arguments: unknown ones are refused."""

    model_config = ConfigDict(extra="forbid")


class Items(BaseModel):
    """A list of rows."""

    count: int
    items: list[Row]


class Item(BaseModel):
    """One row (with what belongs to it)."""

    item: Row


def listing(
    name: str,
    title: str,
    input_model: type[In],
    description: str,
    read: Callable[[Conn, In], Awaitable[list[dict[str, Any]]]],
) -> McpTool:
    """A read-only tool that lists rows of one of Chimera's read-only views."""

    async def rows(ctx: ToolContext, data: In) -> Items:
        async with ctx.deps.reading() as conn:
            found = await read(conn, data)
        return Items(count=len(found), items=found)

    rows.__doc__ = description
    tool = pipeline_tool(
        name,
        title=title,
        needs=Action.READ,
        hints=READS,
        input_model=input_model,
        output_model=Items,
    )
    return tool(rows)


def _offline(what: str, exc: Exception) -> TransientError:
    return TransientError(f"{what}: Kafka: {type(exc).__name__}: {exc}", code="KAFKA_UNAVAILABLE")


# --- trends ---------------------------------------------------------------------------------
class InjectTrendsInput(Arguments):
    trends: list[dict[str, JsonValue]] = Field(
        min_length=1,
        max_length=100,
        description="Trend objects (the specification's shape: id, platform, topic, title, "
        "engagement_metrics, velocity, timestamp, url, ...) or whole TrendDiscovered events.",
    )
    skip_invalid: bool = Field(
        default=False, description="Send the valid ones when some are invalid."
    )


class Problem(BaseModel):
    index: int
    reason: str


class InjectTrendsOutput(BaseModel):
    sent: int
    event_ids: list[str]
    trend_ids: list[str]
    problems: list[Problem]


@pipeline_tool(
    "inject_trends",
    title="Inject trends",
    needs=Action.OPERATE,
    hints=Hints(read_only=False, destructive=False, idempotent=True, open_world=False),
    input_model=InjectTrendsInput,
    output_model=InjectTrendsOutput,
)
async def inject_trends(ctx: ToolContext, data: InjectTrendsInput) -> InjectTrendsOutput:
    """Put trends on the pipeline's trends topic, validated exactly as `chimera inject` does
    (the agents' strict decoding); they are stored by the research agent and decided by the
    orchestrator. Only trends: no other event can be injected here. A bare trend gets an
    event id derived from its content, so injecting the same snapshot twice is one event.
    Nothing is sent when any trend is invalid, unless skip_invalid."""
    events: list[TrendDiscovered] = []
    problems: list[Problem] = []
    for index, raw in enumerate(data.trends):
        try:
            event = parse_one(json.dumps(raw), producer=PRODUCER)
        except DecodeError as exc:
            problems.append(Problem(index=index, reason=f"{exc.code}: {exc.message}"))
            continue
        if not isinstance(event, TrendDiscovered):
            problems.append(
                Problem(index=index, reason=f"NOT_A_TREND: {event.event_type} cannot be injected")
            )
            continue
        if "event_type" not in raw:
            event = TrendDiscovered.create(
                event.payload,
                producer=PRODUCER,
                event_id=derived_id("mcp-inject", event.payload.model_dump_json()),
            )
        events.append(event)
    if problems and not data.skip_invalid:
        raise ValidationError(
            f"{len(problems)} invalid trend(s); nothing sent (skip_invalid sends the valid ones): "
            + "; ".join(f"#{p.index}: {p.reason}" for p in problems[:5]),
            code="INVALID_TRENDS",
            details={"problems": [p.model_dump() for p in problems]},
        )
    ids = sorted(str(e.event_id) for e in events)
    if events:
        await ctx.changing(
            derived_id("mcp-inject-batch", *ids),
            event_ids=ids,
            trend_ids=[e.payload.id for e in events],
        )
        try:
            await send(ctx.deps.settings, list(events), producer=ctx.deps.producer)
        except KafkaError as exc:
            raise _offline("the trends were not sent", exc) from exc
    return InjectTrendsOutput(
        sent=len(events),
        event_ids=[str(e.event_id) for e in events],
        trend_ids=[e.payload.id for e in events],
        problems=problems,
    )


class ListTrendsInput(Arguments):
    platform: str | None = Field(default=None, max_length=50)
    limit: int = Field(default=20, ge=1, le=100)


list_trends = listing(
    "list_trends",
    "List trends",
    ListTrendsInput,
    "The stored trends that grow fastest (views per hour), optionally of one platform.",
    lambda conn, data: reports.trend_items(conn, platform=data.platform, limit=data.limit),
)


# --- content and publications -----------------------------------------------------------------
class ListContentInput(Arguments):
    status: str | None = Field(
        default=None,
        max_length=50,
        description="draft, generating, ready, awaiting_approval, approved, rejected, "
        "published, failed.",
    )
    limit: int = Field(default=20, ge=1, le=100)


list_content = listing(
    "list_content",
    "List content",
    ListContentInput,
    "The newest content items, optionally in one status, with their titles and trends.",
    lambda conn, data: reports.content_items(conn, status=data.status, limit=data.limit),
)


class ContentIdInput(Arguments):
    content_id: str = Field(min_length=1, max_length=255)


async def _content(ctx: ToolContext, content_id: str) -> dict[str, Any]:
    async with ctx.deps.reading() as conn:
        item = await reports.content_item(conn, content_id)
        if item is None:
            raise ValidationError(f"no content {content_id!r}", code="NO_SUCH_CONTENT")
        item["audit"] = reports.jsonable(
            await reports.audit_search(conn, content_id=content_id, limit=30)
        )
    return item


@pipeline_tool(
    "show_content",
    title="Show content",
    needs=Action.READ,
    hints=READS,
    input_model=ContentIdInput,
    output_model=Item,
)
async def show_content(ctx: ToolContext, data: ContentIdInput) -> Item:
    """One content item: status, script, metadata (assets and licences), its trend, workflow,
    review (the approval gate's decision) and refusals, its publications and its latest audit
    entries (why it failed, who decided)."""
    return Item(item=await _content(ctx, data.content_id))


class ListPublicationsInput(Arguments):
    status: str | None = Field(
        default=None, max_length=50, description="scheduled, publishing, published, failed..."
    )
    platform: Literal["youtube", "tiktok", "twitter", "local"] | None = None
    since: AwareDatetime | None = Field(
        default=None, description="Only those published (or scheduled) since this time."
    )
    limit: int = Field(default=20, ge=1, le=100)


list_publications = listing(
    "list_publications",
    "List publications",
    ListPublicationsInput,
    "Publications, newest first: where each video went, its link, its status and error.",
    lambda conn, data: reports.publication_items(
        conn, status=data.status, platform=data.platform, since=data.since, limit=data.limit
    ),
)


class PublicationIdInput(Arguments):
    publication_id: str = Field(min_length=1, max_length=255)


@pipeline_tool(
    "show_publication",
    title="Show publication",
    needs=Action.READ,
    hints=READS,
    input_model=PublicationIdInput,
    output_model=Item,
)
async def show_publication(ctx: ToolContext, data: PublicationIdInput) -> Item:
    """One publication with its latest engagement snapshots."""
    async with ctx.deps.reading() as conn:
        item = await reports.publication_item(conn, data.publication_id)
    if item is None:
        raise ValidationError(f"no publication {data.publication_id!r}", code="NO_SUCH_PUBLICATION")
    return Item(item=item)


class ListAuditInput(Arguments):
    content_id: str = Field(default="", max_length=255)
    agent_id: str = Field(default="", max_length=255, description="e.g. generate, mcp, console")
    actor: str = Field(default="", max_length=64, description="A person, as the entry names them.")
    action_prefix: str = Field(default="", max_length=100, description="e.g. skill:, review:")
    since: AwareDatetime | None = None
    limit: int = Field(default=50, ge=1, le=200)


list_audit_entries = listing(
    "list_audit_entries",
    "List audit entries",
    ListAuditInput,
    "Audit entries, newest first: every skill call and state change of the agents, every "
    "review decision and every MCP tool call (PII removed), narrowed by content item, agent, "
    "person, kind of action or time.",
    lambda conn, data: _audit(conn, data),
)


async def _audit(conn: Conn, data: ListAuditInput) -> list[dict[str, Any]]:
    found = await reports.audit_search(
        conn,
        content_id=data.content_id,
        agent=data.agent_id,
        actor=data.actor,
        action=data.action_prefix,
        since=data.since,
        limit=data.limit,
    )
    rows: list[dict[str, Any]] = reports.jsonable(found)
    return rows


# --- operations -------------------------------------------------------------------------------
class NoArguments(Arguments):
    pass


class StatusOutput(BaseModel):
    healthy: bool
    problems: list[str]
    warnings: list[str]
    report: Row


@pipeline_tool(
    "pipeline_status",
    title="Pipeline status",
    needs=Action.READ,
    hints=READS,
    input_model=NoArguments,
    output_model=StatusOutput,
)
async def pipeline_status(ctx: ToolContext, data: NoArguments) -> StatusOutput:
    """What `chimera status` reports: each agent's group, members and lag, dead letters, the
    latest alerts, workflows/content/publications by state, outbox backlog; and the verdict."""
    del data
    report = json.loads(json.dumps(await status.collect(ctx.deps.settings), default=str))
    return StatusOutput(
        healthy=bool(report.get("healthy")),
        problems=list(report.get("problems", [])),
        warnings=list(report.get("warnings", [])),
        report=report,
    )


class ListDeadLettersInput(Arguments):
    topic: str | None = Field(
        default=None, max_length=255, description="A stream (trends) or topic; default: all."
    )
    include_handled: bool = False


class DeadLettersOutput(BaseModel):
    count: int
    topics: dict[str, list[Row]]


@pipeline_tool(
    "list_dead_letters",
    title="List dead letters",
    needs=Action.READ,
    hints=READS,
    input_model=ListDeadLettersInput,
    output_model=DeadLettersOutput,
)
async def list_dead_letters(ctx: ToolContext, data: ListDeadLettersInput) -> DeadLettersOutput:
    """Dead letters per dead-letter topic (unhandled ones unless include_handled): where each
    came from and why it was refused. Redriving and purging are for `chimera dlq`."""
    try:
        found = await dlq.list_dead_letters(
            ctx.deps.settings, data.topic, include_handled=data.include_handled
        )
    except KafkaError as exc:
        raise _offline("cannot read the dead letters", exc) from exc
    topics = {name: [letter.summary() for letter in letters] for name, letters in found.items()}
    return DeadLettersOutput(count=sum(map(len, topics.values())), topics=topics)


class PlanReplayInput(Arguments):
    agent: str | None = Field(default=None, description="research, orchestrator, ... (or group)")
    group: str | None = Field(default=None, description="A consumer group by name.")
    to: Literal["earliest", "latest"] | None = None
    to_offset: int | None = Field(default=None, ge=0)
    to_datetime: str | None = Field(default=None, description="ISO 8601; no zone means UTC.")
    by_duration: str | None = Field(default=None, description="e.g. 2h, 30m, 1d, 1h30m.")
    topics: list[str] = Field(default_factory=list, max_length=50)
    partitions: list[int] = Field(default_factory=list, max_length=1000)


class PlanReplayOutput(BaseModel):
    plan: Row
    group_state: str
    note: str


@pipeline_tool(
    "plan_replay",
    title="Plan a replay (dry run)",
    needs=Action.OPERATE,
    hints=READS,
    input_model=PlanReplayInput,
    output_model=PlanReplayOutput,
)
async def plan_replay(ctx: ToolContext, data: PlanReplayInput) -> PlanReplayOutput:
    """What resetting a consumer group's offsets would do, per partition (records replayed or
    skipped). A dry run only: nothing moves; `chimera replay ... --execute` applies a plan,
    after the group's consumers are stopped. Give agent or group, and one target."""
    settings = ctx.deps.settings
    if (data.agent is None) == (data.group is None):
        raise ValidationError("give exactly one of agent or group", code="INVALID_INPUT")
    try:
        target = replay.Target.choose(
            to=data.to,
            to_offset=data.to_offset,
            to_datetime=data.to_datetime,
            by_duration=data.by_duration,
        )
        group = replay.agent_group(settings, data.agent) if data.agent else str(data.group)
        topics = await replay.reset_topics(settings, group, data.agent, data.topics)
        plan = await replay.plan_reset(settings, group, topics, target, data.partitions or None)
        state = await replay.offsets.describe_group(settings, group)
    except ChimeraError as exc:
        raise ValidationError(str(exc), code="INVALID_REPLAY") from None
    except KafkaError as exc:
        raise _offline("cannot plan the replay", exc) from exc
    active = state.active
    return PlanReplayOutput(
        plan=json.loads(json.dumps(plan.to_dict(), default=str)),
        group_state=state.state,
        note="dry run: nothing moved"
        + ("; the group is active: stop its consumers before executing" if active else ""),
    )


# --- review -------------------------------------------------------------------------------------
class ApproveInput(Arguments):
    content_id: str = Field(min_length=1, max_length=255)
    reason: str = Field(default="", max_length=2000)
    edits: ContentEdits = Field(
        default_factory=ContentEdits, description="Title, description, tags, time, platforms."
    )


class RejectInput(Arguments):
    content_id: str = Field(min_length=1, max_length=255)
    reason: str = Field(min_length=1, max_length=2000, description="Why (required).")


class DecisionOutput(BaseModel):
    content_id: str
    decision: Literal["approve", "reject"]
    actor: str
    event_id: str
    outcome: Literal["applied", "refused", "pending"]
    detail: str


async def _pending(ctx: ToolContext, content_id: str) -> reviews.Review:
    """The content's review, when it waits for a decision; a clear refusal otherwise."""
    async with ctx.deps.reading() as conn:
        if await reports.content_status(conn, content_id) is None:
            raise ValidationError(f"no content {content_id!r}", code="NO_SUCH_CONTENT")
        try:
            return await review_ops.pending_review(conn, content_id)
        except ValidationError as exc:
            raise ValidationError(
                exc.message, code="NOT_AWAITING_APPROVAL", details={"content_id": content_id}
            ) from None


def _nonce(*parts: object) -> str:
    """The same decision (content, person, what they said) twice is one command."""
    return "mcp:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


async def _decide(ctx: ToolContext, event: ApproveContent | RejectContent) -> DecisionOutput:
    payload = event.payload
    await ctx.changing(
        event.event_id,
        content_id=payload.content_id,
        actor=payload.actor,
        decided_at=payload.decided_at.isoformat(),
        reason=payload.reason,
        event_id=str(event.event_id),
    )
    try:
        await send(ctx.deps.settings, [event], producer=ctx.deps.producer)
    except KafkaError as exc:
        raise _offline("the decision was not sent", exc) from exc
    outcome = await review_ops.wait_for_outcome(
        ctx.deps.pool, event.event_id, ctx.deps.decision_wait_s
    )
    return DecisionOutput(
        content_id=payload.content_id,
        decision="approve" if isinstance(event, ApproveContent) else "reject",
        actor=payload.actor,
        event_id=str(event.event_id),
        outcome=outcome.state,
        detail=outcome.detail
        or "sent; the orchestrator applies one decision per content item (show_content tells)",
    )


@pipeline_tool(
    "approve_content",
    title="Approve content",
    needs=Action.REVIEW,
    # Publishing follows an approval (on platforms: the open world) and cannot be undone;
    # the same decision twice is one command, and a second decision is refused.
    hints=Hints(read_only=False, destructive=False, idempotent=True, open_world=True),
    input_model=ApproveInput,
    output_model=DecisionOutput,
)
async def approve_content(ctx: ToolContext, data: ApproveInput) -> DecisionOutput:
    """Approve a content item that waits for approval, as yourself (reviewer or above), with
    optional edits (title, description, tags, time, a subset of the planned platforms); it is
    then published. Sends ApproveContent; says whether the orchestrator applied or refused it."""
    review = await _pending(ctx, data.content_id)
    edits = data.edits.model_dump(mode="json", exclude_none=True)
    try:
        event = review_ops.approval(
            review,
            ctx.caller.name,
            edits,
            reason=data.reason,
            nonce=_nonce(data.reason, edits),
            producer=PRODUCER,
        )
    except ValidationError as exc:
        raise ValidationError(exc.message, code="INVALID_INPUT") from None
    return await _decide(ctx, event)


@pipeline_tool(
    "reject_content",
    title="Reject content",
    needs=Action.REVIEW,
    # A rejection is final: the item is never published.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=False),
    input_model=RejectInput,
    output_model=DecisionOutput,
)
async def reject_content(ctx: ToolContext, data: RejectInput) -> DecisionOutput:
    """Reject a content item that waits for approval, as yourself (reviewer or above), saying
    why; it is never published. Sends RejectContent; says whether it was applied or refused."""
    review = await _pending(ctx, data.content_id)
    event = review_ops.rejection(
        review, ctx.caller.name, data.reason, nonce=_nonce(data.reason), producer=PRODUCER
    )
    return await _decide(ctx, event)


class RequestPublicationInput(Arguments):
    content_id: str = Field(min_length=1, max_length=255)
    note: str = Field(default="", max_length=2000, description="Why it should go out.")


class RequestPublicationOutput(BaseModel):
    content_id: str
    status: str
    requested_by: str
    note: str


@pipeline_tool(
    "request_publication",
    title="Request publication",
    needs=Action.READ,
    hints=Hints(read_only=False, destructive=False, idempotent=True, open_world=False),
    input_model=RequestPublicationInput,
    output_model=RequestPublicationOutput,
)
async def request_publication(
    ctx: ToolContext, data: RequestPublicationInput
) -> RequestPublicationOutput:
    """Ask for a content item to be published. Nothing is published by this tool: the request
    is recorded (in the audit trail, with you as the requester) for the reviewers, and the item
    goes out only through the approval gate and the policy, like everything else. Asking twice
    is one request."""
    async with ctx.deps.reading() as conn:
        current = await reports.content_status(conn, data.content_id)
    if current is None:
        raise ValidationError(f"no content {data.content_id!r}", code="NO_SUCH_CONTENT")
    if current in ("approved", "published", "rejected", "failed"):
        raise ValidationError(
            f"content {data.content_id!r} is {current}: there is nothing to request",
            code="NOT_PUBLISHABLE",
            details={"status": current},
        )
    await ctx.changing(
        derived_id("mcp-publication-request", data.content_id, ctx.caller.name),
        content_id=data.content_id,
        requested_by=ctx.caller.name,
        note=data.note,
    )
    where = (
        "it waits for a reviewer's decision (approve_content, the console, chimera review)"
        if current == AWAITING_APPROVAL
        else f"it is {current}; the policy and the approval gate decide once it is rendered"
    )
    return RequestPublicationOutput(
        content_id=data.content_id,
        status=current,
        requested_by=ctx.caller.name,
        note=f"request recorded; {where}",
    )


TOOLS: list[McpTool] = [
    inject_trends,
    list_trends,
    list_content,
    show_content,
    list_publications,
    show_publication,
    list_audit_entries,
    pipeline_status,
    list_dead_letters,
    plan_replay,
    approve_content,
    reject_content,
    request_publication,
]
