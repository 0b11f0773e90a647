"""Who is calling: a Chimera user, from a bearer token (HTTP) or CHIMERA_MCP_TOKEN (stdio).

Over Streamable HTTP the SDK's bearer middleware asks `ChimeraTokenVerifier` about every
request's `Authorization: Bearer chm_...` header; no token, or one that is unknown, revoked or
of a disabled user, is answered 401 before any MCP message is read. The verified user rides
on the request as the SDK's `AccessToken` (client id = user name, scope = role), read back by
`current_caller`. Over stdio there is no header: the server verifies CHIMERA_MCP_TOKEN once at
start and every call is that user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from chimera.auth.roles import Action, Role, may
from chimera.auth.users import Principal, verify_token
from core.errors import PermanentError

Transport = Literal["stdio", "http"]


@dataclass(frozen=True)
class Caller:
    """The person behind an MCP request, and how they came."""

    name: str
    role: Role
    transport: Transport
    token_id: str | None = None

    @classmethod
    def of(cls, principal: Principal, transport: Transport) -> Caller:
        return cls(principal.name, principal.role, transport, principal.token_id)

    def may(self, action: Action) -> bool:
        return may(self.role, action)

    def as_audit(self) -> dict[str, str | None]:
        """The caller as an audit entry records them (never the token itself)."""
        return {
            "name": self.name,
            "role": self.role.value,
            "transport": self.transport,
            "token_id": self.token_id,
        }


class PoolRef:
    """The database pool, once the server's lifespan has opened it."""

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    def get(self) -> asyncpg.Pool:
        if self.pool is None:
            raise PermanentError("the MCP server is not started", code="NOT_STARTED")
        return self.pool


class ChimeraTokenVerifier:
    """The SDK's `TokenVerifier` over Chimera's API tokens (`chimera users token NAME`)."""

    def __init__(self, pool: PoolRef) -> None:
        self._pool = pool

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = await verify_token(self._pool.get(), token)
        if principal is None:
            return None
        return AccessToken(
            token=token,
            client_id=principal.name,
            subject=principal.name,
            scopes=[principal.role.value],
            claims={"token_id": principal.token_id},
        )


def current_caller(stdio_caller: Caller | None) -> Caller | None:
    """The caller of the request being handled: the HTTP bearer's user, else the stdio user."""
    token = get_access_token()
    if token is not None:
        token_id = (token.claims or {}).get("token_id")
        return Caller(
            name=token.client_id,
            role=Role(token.scopes[0]),
            transport="http",
            token_id=str(token_id) if token_id is not None else None,
        )
    return stdio_caller
