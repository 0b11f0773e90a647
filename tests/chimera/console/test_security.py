"""The console's sessions, CSRF, throttling and headers over real HTTP (no browser needed)."""

from __future__ import annotations

import re
import stat

import asyncpg
import httpx

from chimera.auth import users
from chimera.console.settings import KEY_FILE, ConsoleSettings
from core.settings import Settings
from tests.chimera.console.support import PASSWORD, serving


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return await client.post(
        "/login", data={"csrf_token": token.group(1), "name": name, "password": password}
    )


async def test_sessions_are_httponly_samesite_and_end_at_logout_or_disable(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await users.add_user(pool, "rita", "reviewer", PASSWORD)
    async with serving(settings) as base, httpx.AsyncClient(base_url=base) as client:
        done = await login(client, "rita")
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = next(c for c in done.headers.get_list("set-cookie") if "chimera_session" in c)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        page = await client.get("/")
        assert page.status_code == 200 and "rita" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        stolen = client.cookies.get("chimera_session")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        out = await client.post("/logout", data={"csrf_token": token.group(1)})
        assert out.status_code == 303
        # The old cookie is worthless once the session row is gone.
        async with httpx.AsyncClient(base_url=base, cookies={"chimera_session": stolen}) as other:
            assert (await other.get("/")).status_code == 303
        # A disabled user's live session stops working at once.
        await login(client, "rita")
        assert (await client.get("/trends")).status_code == 200
        await users.disable_user(pool, "rita")
        gone = await client.get("/trends")
        assert gone.status_code == 303 and gone.headers["location"] == "/login?next=/trends"


async def test_secure_cookies_behind_tls_and_the_key_file_is_private(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await users.add_user(pool, "rita", "reviewer", PASSWORD)
    console = ConsoleSettings(secure_cookies=True)  # no key configured: one is generated
    async with serving(settings, console) as base, httpx.AsyncClient(base_url=base) as client:
        form = await client.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        # A client keeps Secure cookies for https only: hand it back as a TLS proxy would.
        done = await client.post(
            "/login",
            data={"csrf_token": token.group(1), "name": "rita", "password": PASSWORD},
            headers={"cookie": f"chimera_login={token.group(1)}"},
        )
        assert done.status_code == 303
        cookie = next(c for c in done.headers.get_list("set-cookie") if "chimera_session" in c)
        assert "Secure" in cookie and "HttpOnly" in cookie
    key = settings.state_dir / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text()) >= 48


async def test_logins_are_throttled_and_next_never_leaves_the_site(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await users.add_user(pool, "rita", "reviewer", PASSWORD)
    console = ConsoleSettings(session_key="k" * 40, login_attempts=3, login_window_seconds=60)
    async with serving(settings, console) as base, httpx.AsyncClient(base_url=base) as client:
        for _ in range(3):
            wrong = await login(client, "rita", "not the password at all")
            assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
        # Locked for the window: even the right password is refused now.
        locked = await login(client, "rita")
        assert locked.status_code == 429 and "Too many failed logins" in locked.text
        assert "chimera_session" not in locked.headers.get("set-cookie", "")

    async with serving(settings) as base, httpx.AsyncClient(base_url=base) as client:
        form = await client.get("/login?next=//evil.example/x")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        done = await client.post(
            "/login",
            data={
                "csrf_token": token.group(1),
                "name": "rita",
                "password": PASSWORD,
                "next": "//evil.example/x",
            },
        )
        assert done.status_code == 303 and done.headers["location"] == "/"
        # A login form posted without its token is refused.
        client.cookies.clear()
        bare = await client.post("/login", data={"name": "rita", "password": PASSWORD})
        assert bare.status_code == 403


async def test_bad_input_is_a_clear_page_never_a_traceback(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await users.add_user(pool, "olga", "admin", PASSWORD)
    async with serving(settings) as base, httpx.AsyncClient(base_url=base) as client:
        await login(client, "olga")
        missing = await client.get("/review/no-such-content")
        assert missing.status_code == 404 and "There is no content no-such-content" in missing.text
        bad_time = await client.get("/audit?since=yesterday")
        assert bad_time.status_code == 409 and "not a date and time" in bad_time.text
        page = await client.get("/users")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        weak = await client.post(
            "/users",
            data={"csrf_token": token.group(1), "op": "add", "name": "x", "role": "viewer"},
        )
        assert weak.status_code == 409 and "at least 12 characters" in weak.text
        for answer in (missing, bad_time, weak):
            assert "Traceback" not in answer.text
