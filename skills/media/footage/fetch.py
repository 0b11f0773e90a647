"""Fetching remote footage and thumbnails: every hop through the SSRF guard, size-capped.

Fetched with `SkillContext.untrusted` (`skills.net.http`): redirects are followed, each hop
checked by the SSRF guard before it is requested and connected only to the address the guard
checked; the body streams into a temporary file that is renamed into place, so
the cache never holds half a file. Files are cached by provider and id.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from core.errors import PermanentError, TransientError, ValidationError
from skills.context import SkillContext
from skills.files import held_temporary, sweep_once
from skills.http import refused_error
from skills.net.guard import URLRefused


async def fetch_file(url: str, target: Path, ctx: SkillContext, max_bytes: int) -> Path:
    """Download `url` to `target` (atomically) through the guarded client: every hop is
    checked by the SSRF guard, and the socket goes only to the address it checked."""
    if target.is_file() and target.stat().st_size > 0:
        return target
    sweep_once(target.parent)  # what a killed download left in the cache
    with held_temporary(target, ".part") as tmp:
        try:
            async with ctx.untrusted.stream(
                "GET", url, follow_redirects=True, timeout=60
            ) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    raise TransientError(
                        f"fetching footage: HTTP {response.status_code}", code="FETCH_FAILED"
                    )
                if response.status_code != 200:
                    raise PermanentError(
                        f"fetching footage: HTTP {response.status_code}",
                        code="FETCH_FAILED",
                        details={"url": str(response.url)},
                    )
                size = 0
                with tmp.open("wb") as out:
                    async for block in response.aiter_bytes(1 << 16):
                        size += len(block)
                        if size > max_bytes:
                            raise ValidationError(
                                f"footage larger than {max_bytes} bytes", code="FILE_TOO_LARGE"
                            )
                        out.write(block)
                os.replace(tmp, target)
                return target
        except URLRefused as exc:  # nothing was contacted
            raise refused_error(exc) from None
        except httpx.TooManyRedirects as exc:
            raise PermanentError(
                "too many redirects", code="FETCH_FAILED", details={"url": url}
            ) from exc
        except httpx.HTTPError as exc:
            raise TransientError(
                f"fetching footage failed: {type(exc).__name__}", code="FETCH_FAILED"
            ) from exc


def cache_name(provider: str, asset_id: str, url: str) -> str:
    """A file name for a remote asset: provider, a safe id, and the URL's extension."""
    digest = hashlib.sha256(f"{provider}:{asset_id}:{url}".encode()).hexdigest()[:16]
    suffix = Path(url.split("?", 1)[0]).suffix.lower()
    if suffix not in {".mp4", ".mov", ".webm", ".jpg", ".jpeg", ".png", ".webp"}:
        suffix = ".bin"
    return f"{provider}-{digest}{suffix}"
