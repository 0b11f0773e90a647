"""Logging in and out, and the one page without a login: /health."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from chimera.auth import sessions, users
from chimera.auth.roles import Action
from chimera.console import audit
from chimera.console.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Ctx,
    new_nonce,
    page,
    session_of,
    set_cookie,
    state_of,
    tokens_match,
)
from chimera.console.state import ConsoleState
from core.ids import derived_id
from events import Topics


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no `//`): no open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    state = state_of(request)
    token = new_nonce()
    response = state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "user": None,
            "login_token": token,
            "next": _safe_next(request.query_params.get("next")),
            "error": error,
        },
        status_code=status,
    )
    set_cookie(response, state, LOGIN_COOKIE, token, 900)
    return response


async def login_form(request: Request) -> Response:
    """The login page (straight to the overview when already logged in)."""
    if await session_of(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


async def _refused(
    state: ConsoleState, topics: Topics, action: str, name: str, form_token: str, client: str
) -> None:
    """Audit a refused login (once per login form sent)."""
    await audit.record(
        state.producer,
        topics,
        action,
        actor=name or "-",
        key=form_token,
        input_data={"client": client},
        status="failure",
    )


async def login(request: Request) -> Response:
    """Check the password (throttled per name and per client), open a session."""
    state = state_of(request)
    form = await request.form()
    cookie_token = request.cookies.get(LOGIN_COOKIE, "")
    if not tokens_match(form.get(CSRF_FIELD), cookie_token):
        return _login_page(request, error="The login form expired; please try again.", status=403)
    name = str(form.get("name", "")).strip()[:64]
    password = str(form.get("password", ""))
    client = request.client.host if request.client else "unknown"
    keys = [f"name:{name.lower()}", f"client:{client}"]
    topics = Topics(state.settings.topic_prefix)
    wait = state.throttle.wait_s(keys)
    if wait > 0:
        await _refused(state, topics, "login:throttled", name, cookie_token, client)
        return _login_page(
            request,
            error=f"Too many failed logins. Try again in {int(wait // 60) + 1} minute(s).",
            status=429,
        )
    principal = await users.authenticate(state.pool, name, password) if name else None
    if principal is None:
        state.throttle.failed(keys)
        await _refused(state, topics, "login:failed", name, cookie_token, client)
        return _login_page(request, error="Wrong name or password.", status=401)
    state.throttle.succeeded(keys)
    secret, session = await sessions.open_session(
        state.pool, principal.name, state.console.session_hours * 3600
    )
    await audit.record(
        state.producer,
        topics,
        "login",
        actor=principal.name,
        key=session.digest,
        input_data={"client": client, "role": principal.role.value},
    )
    response = RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)
    set_cookie(
        response,
        state,
        SESSION_COOKIE,
        state.signer.dumps(secret),
        int(state.console.session_hours * 3600),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@page(Action.READ)
async def logout(ctx: Ctx) -> Response:
    """Close the session (its row is deleted: the cookie is worthless after)."""
    await sessions.close_session(ctx.state.pool, ctx.session.digest)
    await audit.record(
        ctx.state.producer,
        Topics(ctx.state.settings.topic_prefix),
        "logout",
        actor=ctx.session.user,
        key=str(derived_id("logout", ctx.session.digest)),
    )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def health(request: Request) -> Response:
    """200 while the console runs and its database answers (no login needed)."""
    state = state_of(request)
    try:
        await state.pool.fetchval("SELECT 1")
    except Exception as exc:  # any failure of the probe is the answer
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, 503)
    return JSONResponse({"status": "ok"})
