"""Fetching remote footage and thumbnails: every hop through the SSRF guard, size-capped.

Redirects are followed by hand (at most 5), each `Location` checked by `UrlGuard.check_url`
before it is requested; the body streams into a temporary file that is renamed into place, so
the cache never holds half a file. Files are cached by provider and id.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urljoin

import httpx

from core.errors import PermanentError, TransientError, ValidationError
from skills.context import SkillContext
from skills.files import held_temporary, sweep_once
from skills.net.guard import URLRefused

MAX_REDIRECTS = 5


async def fetch_file(url: str, target: Path, ctx: SkillContext, max_bytes: int) -> Path:
    """Download `url` to `target` (atomically), checking every hop with the SSRF guard."""
    if target.is_file() and target.stat().st_size > 0:
        return target
    guard = ctx.guard()
    sweep_once(target.parent)  # what a killed download left in the cache
    current = url
    with held_temporary(target, ".part") as tmp:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                guard.check_url(current)
            except URLRefused as exc:
                raise ValidationError(
                    f"refused to fetch {current}: {exc.reason}",
                    code="URL_REFUSED",
                    details={"url": current, "reason": exc.reason},
                ) from exc
            try:
                async with ctx.http.stream(
                    "GET", current, follow_redirects=False, timeout=60
                ) as response:
                    if response.status_code in (301, 302, 303, 307, 308):
                        location = response.headers.get("location")
                        if not location:
                            raise PermanentError("redirect without Location", code="FETCH_FAILED")
                        current = urljoin(current, location)
                        continue
                    if response.status_code == 429 or response.status_code >= 500:
                        raise TransientError(
                            f"fetching footage: HTTP {response.status_code}", code="FETCH_FAILED"
                        )
                    if response.status_code != 200:
                        raise PermanentError(
                            f"fetching footage: HTTP {response.status_code}",
                            code="FETCH_FAILED",
                            details={"url": current},
                        )
                    size = 0
                    with tmp.open("wb") as out:
                        async for block in response.aiter_bytes(1 << 16):
                            size += len(block)
                            if size > max_bytes:
                                raise ValidationError(
                                    f"footage larger than {max_bytes} bytes",
                                    code="FILE_TOO_LARGE",
                                )
                            out.write(block)
                    os.replace(tmp, target)
                    return target
            except httpx.HTTPError as exc:
                raise TransientError(
                    f"fetching footage failed: {type(exc).__name__}", code="FETCH_FAILED"
                ) from exc
        raise PermanentError("too many redirects", code="FETCH_FAILED", details={"url": url})


def cache_name(provider: str, asset_id: str, url: str) -> str:
    """A file name for a remote asset: provider, a safe id, and the URL's extension."""
    digest = hashlib.sha256(f"{provider}:{asset_id}:{url}".encode()).hexdigest()[:16]
    suffix = Path(url.split("?", 1)[0]).suffix.lower()
    if suffix not in {".mp4", ".mov", ".webm", ".jpg", ".jpeg", ".png", ".webp"}:
        suffix = ".bin"
    return f"{provider}-{digest}{suffix}"
