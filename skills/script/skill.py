"""`skill_write_script`: a trend (and a reference transcript) in, a short-video script out."""

from __future__ import annotations

import logging

from skills.base import skill
from skills.context import SkillContext
from skills.script import llm, template
from skills.script.models import WriteScriptInput, WriteScriptOutput

log = logging.getLogger("chimera.skills.script")


@skill("skill_write_script")
async def write_script(data: WriteScriptInput, ctx: SkillContext) -> WriteScriptOutput:
    """Write a short-video script (hook, body, call to action, title, description, hashtags).

    The script's spoken words fit `target_duration_s` (at most 60 s) at 150 words a minute;
    `estimated_duration_s` says how long it reads. An OpenAI-compatible LLM writes it when
    CHIMERA_LLM_BASE_URL and CHIMERA_LLM_API_KEY are set; otherwise, and whenever the LLM times
    out, fails or replies with something unusable, the deterministic template writer does.
    `writer` says which one wrote, `fallback_reason` why the LLM's script was not used.
    """
    settings = ctx.settings.script
    trend = data.trend
    fallback: str | None = None
    if data.writer == "auto" and settings.llm_configured:
        try:
            script = await llm.write(
                ctx.http, settings, trend, data.transcript, data.target_duration_s, data.language
            )
        except llm.LlmUnavailable as exc:
            fallback = exc.reason
            level = logging.ERROR if exc.reason == "LLM_AUTH_FAILED" else logging.WARNING
            log.log(
                level,
                "LLM script writer unavailable (%s: %s); using the template",
                exc.reason,
                exc.detail,
            )
        else:
            return WriteScriptOutput(
                success=True,
                script=script,
                trend_id=trend.id,
                writer="llm",
                model=settings.llm_model,
            )
    script = template.write(trend, data.transcript, data.target_duration_s)
    return WriteScriptOutput(
        success=True, script=script, trend_id=trend.id, writer="template", fallback_reason=fallback
    )
