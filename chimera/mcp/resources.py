"""The MCP server's resources and prompts.

Resources are Chimera's records by URI, as JSON, read through the same read-only views as
the tools (in READ ONLY transactions):

    chimera://content/{content_id}          a content item (script, metadata, workflow, ...)
    chimera://publications/{publication_id} a publication and its engagement
    chimera://trends/{trend_id}             a stored trend
    chimera://audit/{audit_id}              one audit entry

Ids are percent-encoded in URIs (a trend id such as `feed:item-1` reads as
`chimera://trends/feed%3Aitem-1`). `resources/list` names the newest items of each kind.
Prompts are ready-made questions that tell an assistant which tools answer them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import mcp_types as types
from mcp.shared.exceptions import MCPError

from agents.repositories import reports
from chimera.mcp.context import Deps
from core.db import Conn

SCHEME = "chimera"
MIME = "application/json"
Reader = Callable[[Conn, str], Awaitable[dict[str, Any] | None]]
KINDS: dict[str, tuple[str, str, Reader]] = {
    "content": (
        "content_id",
        "A content item: status, script, metadata, workflow.",
        reports.content_item,
    ),
    "publications": (
        "publication_id",
        "A publication: platform, link, status, engagement.",
        reports.publication_item,
    ),
    "trends": (
        "trend_id",
        "A stored trend (the specification's trend object).",
        reports.trend_item,
    ),
    "audit": ("audit_id", "One audit entry (PII removed).", reports.audit_entry),
}


def uri(kind: str, item_id: str) -> str:
    return f"{SCHEME}://{kind}/{quote(item_id, safe='')}"


def templates() -> list[types.ResourceTemplate]:
    return [
        types.ResourceTemplate(
            uri_template=f"{SCHEME}://{kind}/{{{param}}}",
            name=kind,
            title=f"Chimera {kind}",
            description=description,
            mime_type=MIME,
        )
        for kind, (param, description, _) in KINDS.items()
    ]


def _resource(kind: str, item_id: Any, title: Any, description: str) -> types.Resource:
    return types.Resource(
        uri=uri(kind, str(item_id)),
        name=f"{kind} {item_id}",
        title=str(title or item_id),
        description=description,
        mime_type=MIME,
    )


async def listed(deps: Deps, limit: int = 20) -> list[types.Resource]:
    """The newest content items and publications and the fastest trends, as resources."""
    async with deps.reading() as conn:
        content = await reports.content_items(conn, limit=limit)
        publications = await reports.publication_items(conn, limit=limit)
        trends = await reports.trend_items(conn, limit=limit)
    return [
        *(
            _resource(
                "content", c["id"], c.get("title") or c.get("trend_title"), f"{c['status']} content"
            )
            for c in content
        ),
        *(
            _resource("publications", p["id"], p.get("title"), f"{p['status']} on {p['platform']}")
            for p in publications
        ),
        *(
            _resource(
                "trends",
                t["id"],
                t.get("title"),
                f"{t['platform']} trend, velocity {t['velocity']}",
            )
            for t in trends
        ),
    ]


async def read(deps: Deps, address: str) -> types.TextResourceContents:
    """The record a `chimera://` URI names, as JSON; INVALID_PARAMS when there is none."""
    parts = urlsplit(address)
    item_id = unquote(parts.path.removeprefix("/"))
    if parts.scheme != SCHEME or parts.netloc not in KINDS or not item_id or "/" in item_id:
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=f"not a Chimera resource: {address} (chimera://{'|'.join(KINDS)}/<id>)",
            data={"uri": address},
        )
    _, _, reader = KINDS[parts.netloc]
    async with deps.reading() as conn:
        item = await reader(conn, item_id)
    if item is None:
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=f"no {parts.netloc} {item_id!r}",
            data={"uri": address},
        )
    return types.TextResourceContents(
        uri=address, mime_type=MIME, text=json.dumps(item, indent=2, default=str)
    )


# --- prompts ----------------------------------------------------------------------------------
PROMPTS = [
    types.Prompt(
        name="daily_briefing",
        title="Daily briefing",
        description="What is trending, what went out today, what waits for a decision, and "
        "whether the pipeline is healthy.",
        arguments=[],
    ),
    types.Prompt(
        name="investigate_content",
        title="Why did this video fail?",
        description="Trace one content item through its workflow, audit entries and dead "
        "letters, and say what happened and what to do.",
        arguments=[
            types.PromptArgument(name="content_id", description="The content id.", required=True)
        ],
    ),
]


def _user(text: str) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))


def prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
    """A prompt's messages; INVALID_PARAMS for an unknown prompt or a missing argument."""
    args = arguments or {}
    if name == "daily_briefing":
        today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
        return types.GetPromptResult(
            description=PROMPTS[0].description,
            messages=[
                _user(
                    "Give me today's Chimera briefing, short. Use the tools: list_trends "
                    "(what is trending), list_publications with since="
                    f"{today} (what went out today, with links), list_content with "
                    "status=awaiting_approval for what "
                    "waits for a decision, and pipeline_status (healthy or not, and why). "
                    "Do not approve, reject or inject anything."
                )
            ],
        )
    if name == "investigate_content":
        content_id = args.get("content_id", "").strip()
        if not content_id:
            raise MCPError(
                code=types.INVALID_PARAMS, message="investigate_content needs content_id"
            )
        return types.GetPromptResult(
            description=PROMPTS[1].description,
            messages=[
                _user(
                    f"Find out what happened to Chimera content {content_id!r}. Call "
                    f"show_content (status, workflow state and reason, publications with their "
                    f"last_error), then list_audit_entries with content_id={content_id} (each "
                    "skill call and state change, with error codes), and list_dead_letters if "
                    "anything was refused. Say which stage failed, the error code and whether "
                    "it is retryable, and what a person should do. Change nothing."
                )
            ],
        )
    raise MCPError(code=types.INVALID_PARAMS, message=f"no prompt {name!r}")
