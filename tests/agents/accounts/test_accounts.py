"""Connected accounts against each platform's documented token endpoint (respx) and a real
PostgreSQL: connect with PKCE over the loopback redirect, tokens sealed at rest, refresh ahead
of expiry under a lock, rotation, refusals."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import respx
from pydantic import SecretStr

from agents.accounts import PgAccessTokens, verify_keyring
from chimera.cli.accounts import connect_account, rotate_keys
from core import crypto
from core.errors import ConfigError, TransientError
from core.settings import Settings
from skills.accounts.oauth import OAuthSettings, ReauthRequired

OAUTH = OAuthSettings(
    youtube_client_id="yt-client",
    youtube_client_secret=SecretStr("yt-secret"),
    tiktok_client_key="tt-key",
    tiktok_client_secret=SecretStr("tt-secret"),
    x_client_id="x-client",
    x_client_secret=SecretStr("x-secret"),
)
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
X_TOKEN = "https://api.x.com/2/oauth2/token"
TIKTOK_TOKEN = "https://open.tiktokapis.com/v2/oauth/token/"


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def _browser(lines: list[str], code: str = "auth-code-1") -> dict[str, str]:
    """Plays the browser: waits for the printed URL, then follows the redirect the platform
    would send to the loopback address, with the code and the same state."""
    while not any(line.startswith("https://") for line in lines):
        await asyncio.sleep(0.02)
    url = next(line for line in lines if line.startswith("https://"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    async with httpx.AsyncClient() as http:
        await http.get(query["redirect_uri"], params={"code": code, "state": query["state"]})
    return query


async def connect(
    settings: Settings, platform: str, router: respx.MockRouter, name: str | None = None
) -> tuple[str, dict[str, str]]:
    lines: list[str] = []
    router.route(host="127.0.0.1").pass_through()
    task = asyncio.create_task(
        connect_account(settings, platform, name, timeout=10, show=lines.append, oauth=OAUTH)  # type: ignore[arg-type]
    )
    query = await _browser(lines)
    account, _ = await task
    return account, query


def google_routes(router: respx.MockRouter, access: str = "ya29.first-access") -> respx.Route:
    route = router.post(GOOGLE_TOKEN).respond(
        200,
        json={
            "access_token": access,
            "expires_in": 3599,
            "refresh_token": "1//google-refresh-token",
            "scope": "https://www.googleapis.com/auth/youtube.upload",
            "token_type": "Bearer",
        },
    )
    router.get("https://www.googleapis.com/youtube/v3/channels").respond(
        200, json={"items": [{"id": "UC123", "snippet": {"title": "My Channel"}}]}
    )
    return route


async def expiring_youtube(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter, left: str = "0"
) -> None:
    """A connected YouTube account whose access token has `left` seconds to live."""
    google_routes(router)
    await connect(settings, "youtube", router)
    await pool.execute(
        "UPDATE platform_accounts SET access_expires_at = now() + make_interval(secs => $1)",
        float(left),
    )


@pytest.fixture
def router() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


async def test_connect_youtube_with_pkce_stores_no_token_in_the_clear(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter
) -> None:
    token_route = google_routes(router)
    account, query = await connect(settings, "youtube", router)
    assert account == "youtube:My-Channel"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["access_type"] == "offline" and query["redirect_uri"].startswith(
        "http://127.0.0.1:"
    )
    sent = form(token_route.calls.last.request)
    assert sent["grant_type"] == "authorization_code" and sent["code"] == "auth-code-1"
    assert len(sent["code_verifier"]) >= 43  # PKCE: the verifier goes with the code

    raw = await pool.fetch("SELECT * FROM platform_accounts")
    dump = json.dumps([{k: repr(v) for k, v in dict(r).items()} for r in raw])
    for secret in ("ya29.first-access", "1//google-refresh-token"):
        assert secret not in dump
        assert base64.b64encode(secret.encode()).decode()[:12] not in dump
    assert raw[0]["key_id"] in crypto.keyring_for(settings).ids

    tokens = PgAccessTokens(pool, crypto.keyring_for(settings), OAUTH)
    assert (await tokens.bearer("youtube", None)).get_secret_value() == "ya29.first-access"


async def test_refresh_ahead_of_expiry_keeps_googles_refresh_token(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter
) -> None:
    await expiring_youtube(settings, pool, router, left="60")
    refresh = router.post(GOOGLE_TOKEN).respond(
        200, json={"access_token": "ya29.second", "expires_in": 3599, "token_type": "Bearer"}
    )
    tokens = PgAccessTokens(pool, crypto.keyring_for(settings), OAUTH)
    assert (await tokens.bearer("youtube", "My-Channel")).get_secret_value() == "ya29.second"
    assert form(refresh.calls.last.request)["refresh_token"] == "1//google-refresh-token"
    # The answer had no refresh token: the old one is kept, never overwritten by nothing.
    await pool.execute("UPDATE platform_accounts SET access_expires_at = now()")
    refresh.respond(200, json={"access_token": "ya29.third", "expires_in": 3599})
    assert (await tokens.bearer("youtube", None)).get_secret_value() == "ya29.third"
    assert form(refresh.calls.last.request)["refresh_token"] == "1//google-refresh-token"


async def x_account(settings: Settings, router: respx.MockRouter) -> None:
    router.post(X_TOKEN).respond(
        200,
        json={
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": "x-access-1",
            "scope": "tweet.read tweet.write users.read offline.access",
            "refresh_token": "x-refresh-1",
        },
    )
    router.get("https://api.x.com/2/users/me").respond(
        200, json={"data": {"id": "2244994945", "name": "Chimera", "username": "chimera"}}
    )
    await connect(settings, "twitter", router, name="main")


async def test_x_rotates_its_refresh_token_and_two_processes_never_race(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter
) -> None:
    await x_account(settings, router)
    await pool.execute("UPDATE platform_accounts SET access_expires_at = now()")
    used: list[str] = []

    async def rotate(request: httpx.Request) -> httpx.Response:
        body = form(request)
        used.append(body["refresh_token"])
        await asyncio.sleep(0.3)  # slow enough for the other caller to arrive meanwhile
        n = len(used) + 1
        return httpx.Response(
            200,
            json={
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": f"x-access-{n}",
                "refresh_token": f"x-refresh-{n}",
            },
        )

    route = router.post(X_TOKEN).mock(side_effect=rotate)
    keyring = crypto.keyring_for(settings)
    two = [PgAccessTokens(pool, keyring, OAUTH), PgAccessTokens(pool, keyring, OAUTH)]
    got = await asyncio.gather(*(t.bearer("twitter", "main") for t in two))
    assert {g.get_secret_value() for g in got} == {"x-access-2"}
    assert used == ["x-refresh-1"]  # one refresh, under the lock
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")
    await pool.execute("UPDATE platform_accounts SET access_expires_at = now()")
    await two[0].bearer("twitter", "main")
    assert used == ["x-refresh-1", "x-refresh-2"]  # the rotated one, not the dead one


async def test_a_refused_refresh_marks_the_account_and_is_never_retried_blindly(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter
) -> None:
    await x_account(settings, router)
    await pool.execute("UPDATE platform_accounts SET access_expires_at = now()")
    route = router.post(X_TOKEN).respond(
        400,
        json={
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        },
    )
    tokens = PgAccessTokens(pool, crypto.keyring_for(settings), OAUTH)
    calls = route.call_count
    with pytest.raises(ReauthRequired):
        await tokens.bearer("twitter", "main")
    assert await pool.fetchval("SELECT status FROM platform_accounts") == "needs_reauth"
    with pytest.raises(ReauthRequired):
        await tokens.bearer("twitter", "main")
    assert route.call_count == calls + 1  # the refused grant is not tried again


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (429, {"error": "rate_limited"}, {"Retry-After": "30"}),
        (503, None, {}),
        (500, {"error": "server_error"}, {}),
    ],
)
async def test_rate_limits_and_outages_are_transient_and_change_nothing(
    settings: Settings,
    pool: asyncpg.Pool,
    router: respx.MockRouter,
    status: int,
    body: dict[str, str] | None,
    headers: dict[str, str],
) -> None:
    await expiring_youtube(settings, pool, router)
    router.post(GOOGLE_TOKEN).respond(status, json=body, headers=headers)
    tokens = PgAccessTokens(pool, crypto.keyring_for(settings), OAUTH)
    with pytest.raises(TransientError) as raised:
        await tokens.bearer("youtube", None)
    if status == 429:
        assert raised.value.retry_after == 30
    assert await pool.fetchval("SELECT status FROM platform_accounts") == "active"


async def test_google_invalid_grant_needs_reauth(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter
) -> None:
    await expiring_youtube(settings, pool, router)
    router.post(GOOGLE_TOKEN).respond(
        400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    with pytest.raises(ReauthRequired):
        await PgAccessTokens(pool, crypto.keyring_for(settings), OAUTH).bearer("youtube", None)
    assert await pool.fetchval("SELECT status FROM platform_accounts") == "needs_reauth"


async def test_tiktok_uses_client_key_and_hex_pkce(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter
) -> None:
    token = router.post(TIKTOK_TOKEN).respond(
        200,
        json={
            "access_token": "act.tiktok-1",
            "expires_in": 86400,
            "open_id": "open-123",
            "refresh_expires_in": 31536000,
            "refresh_token": "rft.tiktok-1",
            "scope": "user.info.basic,video.publish",
            "token_type": "Bearer",
        },
    )
    router.get("https://open.tiktokapis.com/v2/user/info/").respond(
        200, json={"data": {"user": {"open_id": "open-123", "display_name": "Creator"}}}
    )
    _, query = await connect(settings, "tiktok", router)
    assert query["client_key"] == "tt-key" and len(query["code_challenge"]) == 64  # hex
    assert form(token.calls.last.request)["client_key"] == "tt-key"
    await pool.execute("UPDATE platform_accounts SET access_expires_at = now()")
    token.respond(
        200, json={"error": "invalid_grant", "error_description": "Refresh token is invalid."}
    )
    with pytest.raises(ReauthRequired):
        await PgAccessTokens(pool, crypto.keyring_for(settings), OAUTH).bearer("tiktok", None)


async def test_keys_rotate_rewraps_and_a_wrong_or_missing_key_is_one_line(
    settings: Settings, pool: asyncpg.Pool, router: respx.MockRouter, tmp_path: Path
) -> None:
    key_file = tmp_path / "secret.key"
    crypto.ensure_key_file(key_file)
    filed = settings.model_copy(update={"secret_key": None, "secret_key_file": key_file})
    google_routes(router)
    await connect(filed, "youtube", router)
    before = crypto.keyring_for(filed)
    running = PgAccessTokens(pool, before, OAUTH)  # an agent started before the rotation
    current, moved = await rotate_keys(filed, new_key=True)
    assert moved == 1 and current != before.current_id
    assert await pool.fetchval("SELECT key_id FROM platform_accounts") == current
    # The running process meets the new key id and re-reads its key file: no restart.
    assert (await running.bearer("youtube", None)).get_secret_value() == "ya29.first-access"

    wrong = crypto.Keyring([base64.urlsafe_b64decode(crypto.generate_key())])
    with pytest.raises(ConfigError) as raised:
        await verify_keyring(pool, wrong)
    assert "\n" not in str(raised.value) and "does not match" in str(raised.value)
    with pytest.raises(ConfigError, match="no master key"):
        crypto.load_keyring(None, tmp_path / "absent.key")
    with pytest.raises(ConfigError, match="32 bytes"):
        crypto.load_keyring("c2hvcnQ=", None)


async def test_the_state_must_match(settings: Settings, router: respx.MockRouter) -> None:
    lines: list[str] = []
    task = asyncio.create_task(
        connect_account(settings, "youtube", None, timeout=10, show=lines.append, oauth=OAUTH)
    )
    router.route(host="127.0.0.1").pass_through()
    while not any(line.startswith("https://") for line in lines):
        await asyncio.sleep(0.02)
    url = next(line for line in lines if line.startswith("https://"))
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    async with httpx.AsyncClient() as http:
        answer = await http.get(redirect, params={"code": "c", "state": "forged"})
    assert answer.status_code == 400
    with pytest.raises(Exception, match="refused the authorization"):
        await task
