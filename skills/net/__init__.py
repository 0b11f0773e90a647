"""Outbound network safety: the SSRF guard (`skills.net.guard`) and its yt-dlp integration
(`skills.net.ytdlp`, imported on demand because yt-dlp is large)."""

from skills.net.guard import (
    ALLOWED_SCHEMES,
    Target,
    UrlGuard,
    URLRefused,
    address_problem,
    is_public_address,
    system_resolver,
)

__all__ = [
    "ALLOWED_SCHEMES",
    "Target",
    "URLRefused",
    "UrlGuard",
    "address_problem",
    "is_public_address",
    "system_resolver",
]
