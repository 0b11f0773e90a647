"""OAuth 2.0 with YouTube (Google), TikTok and X: authorization code with PKCE, token exchange,
refresh, and the account's identity. Built on authlib's async client (`AsyncOAuth2Client`).

Documented endpoints and their differences:

* Google (YouTube): authorize `accounts.google.com/o/oauth2/v2/auth` with
  `access_type=offline&prompt=consent` (so a refresh token is issued), token
  `oauth2.googleapis.com/token`. Access tokens live 1 h; a refresh answer carries no new
  refresh token (the old one stays valid). Refused: `400 {"error": "invalid_grant"}`.
* TikTok: authorize `www.tiktok.com/v2/auth/authorize/` and token
  `open.tiktokapis.com/v2/oauth/token/`, both with `client_key` (not client_id); the desktop
  PKCE challenge is the hex SHA-256 of the verifier. Access tokens live 24 h, refresh tokens a
  year, and a refresh may return a new refresh token. Errors are `{"error": ...,
  "error_description": ..., "log_id": ...}`.
* X: authorize `x.com/i/oauth2/authorize`, token `api.x.com/2/oauth2/token` (confidential
  clients authenticate with HTTP Basic). Access tokens live 2 h; with `offline.access` every
  refresh ROTATES the refresh token (the old one dies at once). A dead refresh token is
  `400 {"error": "invalid_request", "error_description": "Value passed for the token was
  invalid."}`.

Errors: a refused grant (`invalid_grant`, X's invalid token, a revoked app) is
`ReauthRequired` (permanent; a person reconnects); 429 and 5xx are `TransientError` (with
Retry-After); anything else from the token endpoint is `PermanentError`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError, PermanentError, TransientError
from skills.http import retry_after_seconds

AccountPlatform = Literal["youtube", "tiktok", "twitter"]
PLATFORM_ALIASES: dict[str, AccountPlatform] = {
    "youtube": "youtube",
    "tiktok": "tiktok",
    "x": "twitter",
    "twitter": "twitter",
}


class ReauthRequired(PermanentError):
    """The platform refused the refresh token (expired, revoked): reconnect the account."""

    default_code = "ACCOUNT_NEEDS_REAUTH"


class OAuthSettings(BaseSettings):
    """The OAuth clients registered with each platform (environment only, never `.env`)."""

    model_config = SettingsConfigDict(env_prefix="CHIMERA_", env_file=None, extra="ignore")

    youtube_client_id: str | None = None
    youtube_client_secret: SecretStr | None = None
    tiktok_client_key: str | None = None
    tiktok_client_secret: SecretStr | None = None
    x_client_id: str | None = None
    x_client_secret: SecretStr | None = Field(
        default=None, description="Unset for a public client (PKCE only)."
    )
    #: Refresh this long before an access token expires.
    token_refresh_margin_s: float = Field(default=300.0, ge=0)
    #: Endpoints (the documented ones; overridable for proxies).
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105
    youtube_api_url: str = "https://www.googleapis.com/youtube/v3"
    tiktok_auth_url: str = "https://www.tiktok.com/v2/auth/authorize/"
    tiktok_token_url: str = "https://open.tiktokapis.com/v2/oauth/token/"  # noqa: S105
    tiktok_api_url: str = "https://open.tiktokapis.com"
    x_auth_url: str = "https://x.com/i/oauth2/authorize"
    x_token_url: str = "https://api.x.com/2/oauth2/token"  # noqa: S105
    x_api_url: str = "https://api.x.com"


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint answered, as Chimera keeps it."""

    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_at: datetime | None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # TikTok's open_id

    def as_secret_json(self) -> dict[str, str | None]:
        return {
            "access_token": self.access_token.get_secret_value(),
            "refresh_token": self.refresh_token.get_secret_value() if self.refresh_token else None,
        }


@dataclass(frozen=True)
class Identity:
    external_id: str
    display_name: str


@dataclass(frozen=True)
class Platform:
    """One platform's OAuth client configuration."""

    name: AccountPlatform
    auth_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    client_secret: SecretStr | None
    auth_method: str
    auth_params: dict[str, str]
    rotates_refresh_token: bool
    hex_pkce: bool = False
    client_id_param: str = "client_id"


def platform_config(name: AccountPlatform, s: OAuthSettings) -> Platform:
    """The platform's client, or a one-line ConfigError naming the missing variables."""

    def need(value: str | None, variable: str) -> str:
        if not value:
            raise ConfigError(f"{name}: set {variable} (the OAuth client registered for Chimera)")
        return value

    if name == "youtube":
        return Platform(
            name,
            s.google_auth_url,
            s.google_token_url,
            (
                "https://www.googleapis.com/auth/youtube.upload",
                "https://www.googleapis.com/auth/youtube.readonly",
            ),
            need(s.youtube_client_id, "CHIMERA_YOUTUBE_CLIENT_ID"),
            s.youtube_client_secret,
            "client_secret_post",
            {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
            rotates_refresh_token=False,
        )
    if name == "tiktok":
        return Platform(
            name,
            s.tiktok_auth_url,
            s.tiktok_token_url,
            ("user.info.basic", "video.publish", "video.upload", "video.list"),
            need(s.tiktok_client_key, "CHIMERA_TIKTOK_CLIENT_KEY"),
            s.tiktok_client_secret,
            "client_secret_post",
            {},
            rotates_refresh_token=True,
            hex_pkce=True,
            client_id_param="client_key",
        )
    return Platform(
        name,
        s.x_auth_url,
        s.x_token_url,
        ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
        need(s.x_client_id, "CHIMERA_X_CLIENT_ID"),
        s.x_client_secret,
        "client_secret_basic" if s.x_client_secret else "none",
        {},
        rotates_refresh_token=True,
    )


@dataclass(frozen=True)
class AuthorizationRequest:
    """What `begin` made: the URL to open, and what the callback is checked against."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str


class OAuthClient:
    """Authorization, exchange and refresh for one platform, through authlib.

    `transport`: an httpx transport for the token and identity requests (tests pass none:
    respx intercepts the real one)."""

    def __init__(
        self,
        platform: Platform,
        settings: OAuthSettings,
        *,
        timeout: float = 30.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.timeout = timeout
        self.now = now

    def _client(self, redirect_uri: str | None = None) -> AsyncOAuth2Client:
        p = self.platform
        client = AsyncOAuth2Client(
            client_id=p.client_id,
            client_secret=p.client_secret.get_secret_value() if p.client_secret else None,
            scope=(" " if p.name != "tiktok" else ",").join(p.scopes),
            redirect_uri=redirect_uri,
            token_endpoint_auth_method=p.auth_method,
            code_challenge_method=None if p.hex_pkce else "S256",
            timeout=self.timeout,
            follow_redirects=False,
        )
        client.register_compliance_hook("access_token_response", self._check_response)
        client.register_compliance_hook("refresh_token_response", self._check_response)
        return client

    # --- authorization --------------------------------------------------------------------------
    def begin(self, redirect_uri: str) -> AuthorizationRequest:
        """The authorization URL (PKCE S256; TikTok's hex variant) for the loopback redirect."""
        p = self.platform
        verifier = generate_token(64)
        state = secrets.token_urlsafe(24)
        params = dict(p.auth_params)
        if p.hex_pkce:
            params["code_challenge"] = hashlib.sha256(verifier.encode()).hexdigest()
            params["code_challenge_method"] = "S256"
        if p.client_id_param != "client_id":
            params[p.client_id_param] = p.client_id
        url, _ = self._client(redirect_uri).create_authorization_url(
            p.auth_url,
            state=state,
            code_verifier=None if p.hex_pkce else verifier,
            **params,
        )
        return AuthorizationRequest(url, state, verifier, redirect_uri)

    async def exchange(self, request: AuthorizationRequest, code: str) -> TokenSet:
        """Trade the authorization code for tokens."""
        extra = self._client_key_param()
        async with self._client(request.redirect_uri) as client:
            token = await self._call(
                client.fetch_token(
                    self.platform.token_url,
                    code=code,
                    code_verifier=request.code_verifier,
                    grant_type="authorization_code",
                    **extra,
                ),
                "token exchange",
            )
        return self._token_set(token, previous_refresh=None)

    async def refresh(self, refresh_token: SecretStr) -> TokenSet:
        """A fresh access token. The refresh token in the answer replaces the old one only
        when it is there and not empty (Google sends none)."""
        async with self._client() as client:
            token = await self._call(
                client.refresh_token(
                    self.platform.token_url,
                    refresh_token=refresh_token.get_secret_value(),
                    **self._client_key_param(),
                ),
                "refresh",
            )
        return self._token_set(token, previous_refresh=refresh_token)

    def _client_key_param(self) -> dict[str, str]:
        p = self.platform
        return {p.client_id_param: p.client_id} if p.client_id_param != "client_id" else {}

    # --- answers ----------------------------------------------------------------------------------
    def _check_response(self, response: httpx.Response) -> httpx.Response:
        """429 and 5xx are transient (authlib would read them as tokens or raise raw)."""
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(
                f"{self.platform.name} token endpoint: HTTP {status}",
                code="RATE_LIMITED" if status == 429 else "PLATFORM_UNAVAILABLE",
                details={"platform": self.platform.name, "status": status},
                retry_after=retry_after_seconds(response),
            )
        return response

    async def _call(self, call: Any, step: str) -> dict[str, Any]:
        name = self.platform.name
        try:
            token: dict[str, Any] = await call
        except OAuthError as exc:
            error = str(exc.error or "")
            description = str(exc.description or "")[:200]
            details = {"platform": name, "error": error, "step": step}
            refused = error == "invalid_grant" or (
                step == "refresh" and error in ("invalid_request", "invalid_token")
            )
            if refused:
                raise ReauthRequired(
                    f"{name}: the platform refused the grant ({error}: {description}); "
                    "reconnect with `chimera accounts connect`",
                    details=details,
                ) from None
            raise PermanentError(
                f"{name} {step}: {error}: {description}", code="OAUTH_ERROR", details=details
            ) from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(
                f"{name} {step}: {type(exc).__name__}",
                code="NETWORK_ERROR",
                details={"platform": name, "step": step},
            ) from exc
        except ValueError as exc:  # not a JSON object
            raise TransientError(
                f"{name} {step}: unreadable answer", code="PLATFORM_UNAVAILABLE"
            ) from exc
        return token

    def _token_set(self, token: dict[str, Any], previous_refresh: SecretStr | None) -> TokenSet:
        access = str(token.get("access_token") or "")
        if not access:
            raise PermanentError(
                f"{self.platform.name}: the token endpoint returned no access token",
                code="OAUTH_ERROR",
            )
        refresh_raw = str(token.get("refresh_token") or "")
        # Never overwritten by an empty value: keep the old refresh token then.
        refresh = SecretStr(refresh_raw) if refresh_raw else previous_refresh
        now = self.now()
        expires_in = _seconds(token.get("expires_in"))
        refresh_in = _seconds(token.get("refresh_expires_in"))
        scope = str(token.get("scope") or "")
        extra = {k: str(token[k]) for k in ("open_id",) if token.get(k)}
        return TokenSet(
            SecretStr(access),
            refresh,
            now + timedelta(seconds=expires_in) if expires_in is not None else None,
            now + timedelta(seconds=refresh_in) if refresh_in is not None else None,
            tuple(s for s in scope.replace(",", " ").split() if s),
            extra,
        )

    # --- identity ---------------------------------------------------------------------------------
    async def identity(self, tokens: TokenSet) -> Identity:
        """Whose account the tokens are (channel, TikTok user, X user)."""
        s = self.settings
        headers = {"Authorization": f"Bearer {tokens.access_token.get_secret_value()}"}
        name = self.platform.name
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            if name == "youtube":
                url = f"{s.youtube_api_url}/channels"
                response = await http.get(
                    url, params={"part": "snippet", "mine": "true"}, headers=headers
                )
                items = _json(response, name).get("items") or []
                if not items:
                    raise PermanentError("youtube: this Google account has no channel")
                return Identity(str(items[0]["id"]), str(items[0]["snippet"]["title"]))
            if name == "tiktok":
                response = await http.get(
                    f"{s.tiktok_api_url}/v2/user/info/",
                    params={"fields": "open_id,display_name"},
                    headers=headers,
                )
                user = (_json(response, name).get("data") or {}).get("user") or {}
                open_id = str(user.get("open_id") or tokens.extra.get("open_id") or "")
                return Identity(open_id, str(user.get("display_name") or open_id))
            response = await http.get(f"{s.x_api_url}/2/users/me", headers=headers)
            user = _json(response, name).get("data") or {}
            return Identity(str(user["id"]), "@" + str(user.get("username") or user["id"]))


def _json(response: httpx.Response, platform: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise PermanentError(
            f"{platform}: reading the account failed (HTTP {response.status_code})",
            code="ACCOUNT_LOOKUP_FAILED",
        )
    body = response.json()
    return body if isinstance(body, dict) else {}


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
