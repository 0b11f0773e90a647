"""The MCP server's tools: every skill of the registry (with its own JSON schemas) and the
pipeline tools (`chimera.mcp.pipeline`), each with honest annotations and the least role it
needs. The annotations are hints for clients, not security: what a caller may do is decided by
their role (`needs`), checked on every call.

Skills not offered, and why:
- `skill_publish_content`: publishing is never a direct tool; an assistant asks with
  `request_publication`, and the approval gate and the policy decide, as for everything else;
- `skill_archive_content`: the archive records what the publish agent published; an assistant
  writing to it could forge that history;
- `skill_mcp_call_tool`: it would hand an assistant the tools of the servers Chimera is a
  client of, with Chimera's privileges.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_types import ToolAnnotations
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from chimera.auth.roles import Action
from chimera.mcp.context import ToolContext
from core.errors import ErrorInfo, ValidationError
from skills.base import SkillSpec, invoke_json
from skills.settings.script import ScriptSettings

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class Hints:
    """MCP tool annotations: what a call does to the world (see the README's table)."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool

    def annotations(self, title: str) -> ToolAnnotations:
        return ToolAnnotations(
            title=title,
            read_only_hint=self.read_only,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


READS = Hints(read_only=True, destructive=False, idempotent=True, open_world=False)


@dataclass(frozen=True)
class Answer:
    """A tool's structured result; `error` set (and `structured` still valid against the
    output schema) when a skill ran and failed."""

    structured: dict[str, Any]
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class McpTool:
    """One tool as the server lists and runs it."""

    name: str
    title: str
    description: str
    needs: Action
    hints: Hints
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    run: Callable[[ToolContext, dict[str, Any]], Awaitable[Answer]]
    skill: str | None = None

    @property
    def changes(self) -> bool:
        return not self.hints.read_only


def _problems(exc: PydanticValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '(arguments)'}: {e['msg']}" for e in exc.errors()[:10]
    )


def pipeline_tool(
    name: str,
    *,
    title: str,
    needs: Action,
    hints: Hints,
    input_model: type[In],
    output_model: type[Out],
) -> Callable[[Callable[[ToolContext, In], Awaitable[Out]]], McpTool]:
    """Declare a pipeline tool: arguments validated by `input_model`, result `output_model`;
    its description is the function's docstring."""

    def register(fn: Callable[[ToolContext, In], Awaitable[Out]]) -> McpTool:
        async def run(ctx: ToolContext, arguments: dict[str, Any]) -> Answer:
            try:
                parsed = input_model.model_validate(arguments, strict=False)
            except PydanticValidationError as exc:
                raise ValidationError(
                    f"invalid arguments for {name}: {_problems(exc)}",
                    code="INVALID_INPUT",
                    details={
                        "errors": json.loads(exc.json(include_url=False, include_input=False))
                    },
                ) from None
            result = await fn(ctx, parsed)
            return Answer(result.model_dump(mode="json"))

        return McpTool(
            name=name,
            title=title,
            description=" ".join((fn.__doc__ or title).split()),
            needs=needs,
            hints=hints,
            input_schema=input_model.model_json_schema(),
            output_schema=output_model.model_json_schema(),
            run=run,
        )

    return register


#: How each skill touches the world, decided one by one (the README's table says why).
SKILL_HINTS: dict[str, Hints] = {
    # Records trend snapshots (velocity) and spends platform quota: not read-only; a second
    # call records another snapshot; asks YouTube, X, TikTok and feeds.
    "skill_fetch_trends": Hints(
        read_only=False, destructive=False, idempotent=False, open_world=True
    ),
    # Writes the downloaded file into the MCP media folder; at most once per URL.
    "skill_download_video": Hints(
        read_only=False, destructive=False, idempotent=True, open_world=True
    ),
    # Reads a media file, writes nothing; the same file gives the same text.
    "skill_transcribe_audio": READS,
    # Renders into the MCP media folder and replaces a file of the same name there.
    "skill_generate_video": Hints(
        read_only=False, destructive=True, idempotent=True, open_world=False
    ),
    # Asks a platform about a post; changes nothing (beyond spending read quota).
    "skill_fetch_engagement": Hints(
        read_only=True, destructive=False, idempotent=True, open_world=True
    ),
    "skill_find_publication": Hints(
        read_only=True, destructive=False, idempotent=True, open_world=True
    ),
    # Checks a video under the MCP media folder against the quality gate; writes nothing.
    "skill_check_video": READS,
    # Copies a licensed clip from the footage library into the MCP media folder.
    "skill_find_footage": Hints(
        read_only=False, destructive=False, idempotent=True, open_world=False
    ),
}
#: Skills that are not tools (see the module docstring).
NOT_OFFERED = frozenset({"skill_publish_content", "skill_archive_content", "skill_mcp_call_tool"})


def script_hints(script: ScriptSettings) -> Hints:
    """`skill_write_script` writes nothing; with an LLM configured it asks it (open world,
    a second call writes another script), without one the template writer is deterministic."""
    llm = script.llm_configured
    return Hints(read_only=True, destructive=False, idempotent=not llm, open_world=llm)


def skill_hints(name: str, script: ScriptSettings) -> Hints | None:
    if name == "skill_write_script":
        return script_hints(script)
    return SKILL_HINTS.get(name)


def skill_tool(spec: SkillSpec[Any, Any], hints: Hints) -> McpTool:
    """A skill as a tool: the registry's schemas, run by `invoke_json` (validation, retries);
    skills that change something need the operator role, the others the viewer role."""

    async def run(ctx: ToolContext, arguments: dict[str, Any]) -> Answer:
        output = await invoke_json(spec, arguments, ctx.deps.skills)
        return Answer(output.model_dump(mode="json"), None if output.success else output.error)

    schemas = spec.schemas()
    return McpTool(
        name=spec.name,
        title=spec.name.removeprefix("skill_").replace("_", " ").capitalize(),
        description=spec.description,
        needs=Action.READ if hints.read_only else Action.OPERATE,
        hints=hints,
        input_schema=schemas["input_schema"],
        output_schema=schemas["output_schema"],
        run=run,
        skill=spec.name,
    )


def all_tools(
    registry: Mapping[str, SkillSpec[Any, Any]],
    script: ScriptSettings,
    pipeline: list[McpTool],
) -> dict[str, McpTool]:
    """The server's tools by name. A skill without a decision here is not offered (and the
    tests fail until it has one)."""
    tools: dict[str, McpTool] = {}
    for name, spec in sorted(registry.items()):
        hints = skill_hints(name, script)
        if name in NOT_OFFERED or hints is None:
            continue
        tools[name] = skill_tool(spec, hints)
    for tool in pipeline:
        if tool.name in tools:
            raise ValueError(f"two tools named {tool.name!r}")
        tools[tool.name] = tool
    return tools
