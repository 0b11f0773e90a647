"""A content's video and its poster frame, served from the media folder only."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.responses import FileResponse, Response

from chimera.auth.roles import Action
from chimera.console.security import Ctx, error_page, page
from core.errors import PermanentError
from skills.media.poster import ensure_poster


async def _video(ctx: Ctx) -> Path | None:
    """The content's video file, if it exists under the media folder."""
    content_id = ctx.request.path_params["content_id"]
    path = await ctx.state.pool.fetchval("SELECT local_path FROM content WHERE id = $1", content_id)
    if not path:
        return None
    video = Path(path).resolve()
    root = ctx.state.settings.media_root.resolve()
    if not video.is_relative_to(root) or not video.is_file():
        return None
    return video


@page(Action.READ)
async def video(ctx: Ctx) -> Response:
    """The rendered video (range requests answered, so players can seek)."""
    found = await _video(ctx)
    if found is None:
        return error_page(ctx.request, 404, "Not found", "This content has no video (yet).")
    return FileResponse(found, media_type="video/mp4")


@page(Action.READ)
async def poster(ctx: Ctx) -> Response:
    """The video's poster frame, extracted once and kept beside the video."""
    found = await _video(ctx)
    if found is None:
        return error_page(ctx.request, 404, "Not found", "This content has no video (yet).")
    try:
        image = await asyncio.to_thread(ensure_poster, found)
    except PermanentError as exc:
        return error_page(ctx.request, 404, "No poster", exc.message)
    return FileResponse(image, media_type="image/jpeg")
