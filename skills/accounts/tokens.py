"""What publishers ask for: an access token for (platform, account), never a stored setting."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from core.errors import PermanentError


class AccessTokens(Protocol):
    """Hands out live access tokens. `account` None: the platform's only (or default) account.

    `bearer` refreshes ahead of expiry and raises `ReauthRequired` when the platform refused
    the grant. `rejected` is told when the platform refused a token that should be live (HTTP
    401): the implementation refreshes, or marks the account for reconnection."""

    async def bearer(self, platform: str, account: str | None) -> SecretStr: ...

    async def rejected(self, platform: str, account: str | None) -> None: ...


class StaticAccessTokens:
    """Fixed tokens per platform (a token refreshed elsewhere; tests)."""

    def __init__(self, tokens: dict[str, SecretStr]) -> None:
        self.tokens = tokens

    async def bearer(self, platform: str, account: str | None) -> SecretStr:
        token = self.tokens.get(platform)
        if token is None or not token.get_secret_value():
            raise PermanentError(
                f"{platform}: no account connected (`chimera accounts connect {platform}`)",
                code="CREDENTIALS_MISSING",
                details={"platform": platform},
            )
        return token

    async def rejected(self, platform: str, account: str | None) -> None:
        return None
