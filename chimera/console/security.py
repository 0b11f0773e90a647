"""Who is asking, and may they: sessions from signed cookies, CSRF tokens on every
state-changing request, roles per page, and the headers every answer carries.

- The session cookie (`chimera_session`) is HttpOnly, SameSite=Lax, Secure when
  CHIMERA_CONSOLE_SECURE_COOKIES is set, signed with the console's key; it holds a random
  secret whose SHA-256 names the session row (chimera.auth.sessions).
- Every POST must carry the session's CSRF token (synchronizer token, a hidden form field);
  the login form, before any session, carries a double-submit token (cookie + field).
- Every page needs a login and the role its action needs (chimera.auth.roles); only
  /health answers without one.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chimera.auth import sessions
from chimera.auth.roles import REQUIRED, Action, Role, may
from chimera.console.state import ConsoleState
from core.errors import ChimeraError, OperationError

log = logging.getLogger("chimera.console")
SESSION_COOKIE = "chimera_session"
LOGIN_COOKIE = "chimera_login"
FLASH_COOKIE = "chimera_flash"
CSRF_FIELD = "csrf_token"


def state_of(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


async def session_of(request: Request) -> sessions.Session | None:
    """The live session the request's cookie names, or None."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    state = state_of(request)
    try:
        secret = state.signer.loads(raw, max_age=int(state.console.session_hours * 3600))
    except BadSignature:
        return None
    if not isinstance(secret, str):
        return None
    return await sessions.lookup(state.pool, secret)


def set_cookie(
    response: Response, state: ConsoleState, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=state.console.secure_cookies,
        path="/",
    )


def new_nonce() -> str:
    """A random token for a form (its CSRF field or the nonce that names its action)."""
    return secrets.token_urlsafe(16)


def tokens_match(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given, expected)


@dataclass(frozen=True)
class Ctx:
    """One authorised request: the console's state, the user's session, the request."""

    state: ConsoleState
    session: sessions.Session
    request: Request

    def may(self, action: Action | str) -> bool:
        return may(self.session.role, Action(action))

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        """A page, with what every page needs (user, role, CSRF token, flash message)."""
        flash = None
        raw = self.request.cookies.get(FLASH_COOKIE)
        if raw:
            try:
                flash = self.state.signer.loads(raw, max_age=120)
            except BadSignature:
                flash = None
        response = self.state.templates.TemplateResponse(
            self.request,
            template,
            {
                "user": self.session.user,
                "role": self.session.role.value,
                "csrf_token": self.session.csrf_token,
                "may": self.may,
                "flash": flash,
                "path": self.request.url.path,
                **context,
            },
            status_code=status_code,
        )
        if raw:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def redirect(self, url: str, flash: dict[str, str] | None = None) -> Response:
        """See other (after a POST), with a message for the next page."""
        response = RedirectResponse(url, status_code=303)
        if flash is not None:
            set_cookie(response, self.state, FLASH_COOKIE, self.state.signer.dumps(flash), 120)
        return response


Handler = Callable[[Ctx], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """A clear page for bad input or a refusal: never a traceback."""
    return state_of(request).templates.TemplateResponse(
        request,
        "error.html",
        {"title": title, "message": message, "status": status, "user": None},
        status_code=status,
    )


def page(action: Action) -> Callable[[Handler], Endpoint]:
    """An endpoint that needs a login, the role of `action`, and a CSRF token on POST."""

    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session = await session_of(request)
            if session is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            if request.method == "POST":
                form = await request.form()
                if not tokens_match(form.get(CSRF_FIELD), session.csrf_token):
                    log.warning("refused a POST to %s without a valid CSRF token", request.url.path)
                    return error_page(
                        request,
                        403,
                        "Forbidden",
                        "This form's security token is missing or out of date. "
                        "Go back, reload the page and try again.",
                    )
            if not may(session.role, action):
                needed: Role = REQUIRED[action]
                return error_page(
                    request,
                    403,
                    "Forbidden",
                    f"This needs the {needed.value} role; {session.user} is a "
                    f"{session.role.value}.",
                )
            try:
                return await handler(Ctx(state_of(request), session, request))
            except (ChimeraError, OperationError) as exc:
                message = exc.message if isinstance(exc, OperationError) else str(exc)
                return error_page(request, 409, "Not done", message)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


class SecurityHeaders:
    """Adds the headers every answer needs (CSP, no framing, no sniffing, no caching)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": CSP.encode(),
                    b"x-frame-options": b"DENY",
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                }
                if not scope["path"].startswith(("/static/", "/media/")):
                    extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
