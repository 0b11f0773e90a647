"""Stock video search: Pexels and Pixabay (API keys by setting; nothing is sent without one).

Pexels (`GET {base}/videos/search`, header `Authorization: <key>`): `videos[]` with `id`,
`url` (its page), `duration`, `user {name, url}` and `video_files[]` (`link`, `width`,
`height`, `quality`, `file_type`). Rate limit headers `X-Ratelimit-Limit`, `-Remaining` and
`-Reset` (a UNIX time); 429 when used up. Licence: the Pexels License.

Pixabay (`GET {base}/api/videos/?key=...&q=...`): `hits[]` with `id`, `pageURL`, `tags`
("a, b, c"), `duration`, `user`, `user_id` and `videos {large, medium, small, tiny}` each with
`url`, `width`, `height`, `size`. Rate limit headers `X-RateLimit-Limit`, `-Remaining`,
`-Reset` (seconds until the window resets); 429 when used up; a bad request is a plain-text
400 (`[ERROR 400] ...`). Licence: the Pixabay Content License.

A provider whose quota is used up (remaining 0, or a 429) says so once with a TransientError
carrying the wait; the footage chooser then leaves it out for the rest of the video.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import SecretStr

from core.errors import OperationError, PermanentError, TransientError
from skills.context import SkillContext
from skills.http import retry_after_seconds
from skills.media.footage.models import Asset, AssetRights, FootageQuery

PEXELS_LICENCE = ("Pexels License", "https://www.pexels.com/license/")
PIXABAY_LICENCE = ("Pixabay Content License", "https://pixabay.com/service/license-summary/")


def _error(provider: str, response: httpx.Response, reset_is_delay: bool) -> OperationError:
    status = response.status_code
    text = response.text[:200]
    details = {"provider": provider, "status": status}
    if status == 429:
        return TransientError(
            f"{provider}: rate limit reached",
            code="FOOTAGE_RATE_LIMITED",
            retry_after=_reset(response, reset_is_delay),
            details=details,
        )
    if status >= 500:
        return TransientError(f"{provider}: server error {status}", code="FOOTAGE_UNAVAILABLE")
    if status in (401, 403):
        return PermanentError(f"{provider}: key refused ({status})", code="FOOTAGE_AUTH")
    return PermanentError(f"{provider}: request refused ({status}): {text}", code="FOOTAGE_REFUSED")


def _reset(response: httpx.Response, is_delay: bool) -> float | None:
    after = retry_after_seconds(response)
    if after is not None:
        return after
    raw = response.headers.get("x-ratelimit-reset")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    if value is None:
        return None
    return max(0.0, value if is_delay else value - time.time())


class Quota:
    """What the last answer's rate-limit headers said: no call is sent while it is used up."""

    def __init__(self, provider: str, reset_is_delay: bool) -> None:
        self.provider = provider
        self.reset_is_delay = reset_is_delay
        self.blocked_until = 0.0

    def check(self) -> None:
        wait = self.blocked_until - time.time()
        if wait > 0:
            raise TransientError(
                f"{self.provider}: quota used up for {wait:.0f} s more",
                code="FOOTAGE_RATE_LIMITED",
                retry_after=wait,
                details={"provider": self.provider},
            )

    def update(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining", "").strip()
        if remaining == "0" or response.status_code == 429:
            self.blocked_until = time.time() + (_reset(response, self.reset_is_delay) or 60.0)


async def _get(
    quota: Quota,
    ctx: SkillContext,
    url: str,
    params: dict[str, Any],
    headers: dict[str, str],
) -> Any:
    provider, reset_is_delay = quota.provider, quota.reset_is_delay
    quota.check()
    try:
        response = await ctx.http.get(url, params=params, headers=headers, timeout=20)
    except httpx.HTTPError as exc:
        raise TransientError(
            f"{provider} unreachable: {type(exc).__name__}", code="FOOTAGE_UNAVAILABLE"
        ) from exc
    quota.update(response)
    if response.status_code != 200:
        raise _error(provider, response, reset_is_delay)
    try:
        return response.json()
    except ValueError as exc:
        raise PermanentError(
            f"{provider}: answer is not JSON", code="FOOTAGE_BAD_RESPONSE"
        ) from exc


def _pick_file(files: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The mp4 rendition closest to (and preferably at least) a 1080 short side."""
    want = 1080  # the short side of every target frame, whatever the orientation
    mp4 = [
        f
        for f in files
        if isinstance(f, dict)
        and f.get("link")
        and str(f.get("file_type") or "video/mp4") == "video/mp4"
    ]
    if not mp4:
        return None

    def short(f: dict[str, Any]) -> int:
        return min(int(f.get("width") or 0), int(f.get("height") or 0))

    big_enough = [f for f in mp4 if short(f) >= want]
    if big_enough:
        return min(big_enough, key=short)
    return max(mp4, key=short)


def _video(
    chosen: dict[str, Any],
    duration: float,
    tags: list[str],
    query: FootageQuery,
    rights: AssetRights,
) -> Asset:
    return Asset(
        kind="video",
        remote_url=str(chosen["link"]),
        duration=duration,
        width=chosen.get("width"),
        height=chosen.get("height"),
        tags=tags or list(query.keywords),
        score=float(len(query.keywords)),
        rights=rights,
    )


class _StockProvider:
    name = ""
    reset_is_delay = False
    default_url = ""

    def __init__(self, key: SecretStr, base_url: str | None = None) -> None:
        self.key = key
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.quota = Quota(self.name, reset_is_delay=self.reset_is_delay)


class PexelsProvider(_StockProvider):
    """Pexels video search."""

    name = "pexels"
    default_url = "https://api.pexels.com"

    async def search(self, query: FootageQuery, ctx: SkillContext) -> list[Asset]:
        body = await _get(
            self.quota,
            ctx,
            f"{self.base_url}/videos/search",
            {
                "query": " ".join(query.keywords)[:100],
                "orientation": query.orientation,
                "size": "medium",
                "per_page": query.count,
            },
            {"Authorization": self.key.get_secret_value()},
        )
        found: list[Asset] = []
        for video in body.get("videos") or []:
            if not isinstance(video, dict):
                continue
            duration = float(video.get("duration") or 0)
            chosen = _pick_file(video.get("video_files") or [])
            if chosen is None or duration < query.min_duration_s:
                continue
            user = video.get("user") or {}
            found.append(
                _video(
                    chosen,
                    duration,
                    [str(t) for t in video.get("tags") or []],
                    query,
                    AssetRights(
                        provider="pexels",
                        id=str(video.get("id")),
                        url=video.get("url"),
                        author=user.get("name"),
                        author_url=user.get("url"),
                        licence=PEXELS_LICENCE[0],
                        licence_url=PEXELS_LICENCE[1],
                    ),
                )
            )
        return found


class PixabayProvider(_StockProvider):
    """Pixabay video search."""

    name = "pixabay"
    default_url = "https://pixabay.com"
    reset_is_delay = True  # its X-RateLimit-Reset is seconds to wait, not a time

    async def search(self, query: FootageQuery, ctx: SkillContext) -> list[Asset]:
        body = await _get(
            self.quota,
            ctx,
            f"{self.base_url}/api/videos/",
            {
                "key": self.key.get_secret_value(),
                "q": " ".join(query.keywords)[:100],
                "video_type": "film",
                "safesearch": "true",
                "per_page": max(3, query.count),
            },
            {},
        )
        found: list[Asset] = []
        for hit in body.get("hits") or []:
            if not isinstance(hit, dict):
                continue
            duration = float(hit.get("duration") or 0)
            renditions = [
                {**v, "link": v.get("url")}
                for v in (hit.get("videos") or {}).values()
                if isinstance(v, dict) and v.get("url")
            ]
            chosen = _pick_file(renditions)
            if chosen is None or duration < query.min_duration_s:
                continue
            user = str(hit.get("user") or "") or None
            user_id = hit.get("user_id")
            found.append(
                _video(
                    chosen,
                    duration,
                    [t.strip() for t in str(hit.get("tags") or "").split(",") if t.strip()],
                    query,
                    AssetRights(
                        provider="pixabay",
                        id=str(hit.get("id")),
                        url=hit.get("pageURL"),
                        author=user,
                        author_url=(
                            f"https://pixabay.com/users/{user}-{user_id}/"
                            if user and user_id
                            else None
                        ),
                        licence=PIXABAY_LICENCE[0],
                        licence_url=PIXABAY_LICENCE[1],
                    ),
                )
            )
        return found
