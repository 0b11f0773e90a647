"""The console's composition root: `create_app(settings, console)` builds the Starlette
application; its lifespan opens the database pool and the audit producer, and closes them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from agents.runtime.topics import ensure_topics
from chimera.console.pages import (
    alerts,
    auditlog,
    auth,
    deadletters,
    media,
    overview,
    publications,
    replay,
    review,
    trends,
    users,
)
from chimera.console.security import SecurityHeaders, error_page
from chimera.console.settings import ConsoleSettings, session_key
from chimera.console.state import STATIC, TEMPLATES, ConsoleState
from chimera.console.throttle import LoginThrottle
from core.db import create_pool, require_schema
from core.kafka import make_producer
from core.settings import Settings

log = logging.getLogger("chimera.console")


def _when(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A timestamp for people (UTC), or a dash."""
    if isinstance(value, datetime):
        return value.strftime(fmt)
    if isinstance(value, str) and value:
        return value[:19].replace("T", " ")
    return "-"


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=str(TEMPLATES))
    found.env.filters["when"] = _when
    return found


ROUTES = [
    Route("/health", auth.health),
    Route("/login", auth.login_form, methods=["GET"]),
    Route("/login", auth.login, methods=["POST"]),
    Route("/logout", auth.logout, methods=["POST"]),
    Route("/", overview.overview),
    Route("/overview/live", overview.overview_live),
    Route("/trends", trends.trends),
    Route("/review", review.queue),
    Route("/review/{content_id}", review.detail),
    Route("/review/{content_id}/approve", review.approve, methods=["POST"]),
    Route("/review/{content_id}/reject", review.reject, methods=["POST"]),
    Route("/media/{content_id}/video.mp4", media.video),
    Route("/media/{content_id}/poster.jpg", media.poster),
    Route("/publications", publications.publications),
    Route("/deadletters", deadletters.letters),
    Route("/deadletters/{topic}/{partition:int}/{offset:int}", deadletters.letter),
    Route(
        "/deadletters/{topic}/{partition:int}/{offset:int}/redrive",
        deadletters.redrive,
        methods=["POST"],
    ),
    Route(
        "/deadletters/{topic}/{partition:int}/{offset:int}/purge",
        deadletters.purge,
        methods=["POST"],
    ),
    Route("/alerts", alerts.alerts),
    Route("/alerts/{event_id}/acknowledge", alerts.acknowledge, methods=["POST"]),
    Route("/audit", auditlog.audit_log),
    Route("/replay", replay.replay_plan),
    Route("/users", users.users_page),
    Route("/users", users.change, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_page(request, 404, "Not found", "There is no such page.")
    if exc.status_code == 405:
        return error_page(request, 405, "Not allowed", "This page does not take that method.")
    return error_page(request, exc.status_code, "Error", str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("console request failed: %s %s", request.method, request.url.path)
    return error_page(
        request, 500, "Something went wrong", "The console could not answer; it is in the log."
    )


def create_app(settings: Settings, console: ConsoleSettings | None = None) -> Starlette:
    """The console application; nothing connects until its lifespan starts."""
    console = console or ConsoleSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await require_schema(settings)
        await ensure_topics(settings)  # the audit and review topics it sends to
        pool = await create_pool(settings, max_size=5)
        producer = make_producer(settings, client_id="chimera-console")
        try:
            await producer.start()
            key = session_key(console, settings.state_dir)
            app.state.console = ConsoleState(
                settings=settings,
                console=console,
                pool=pool,
                producer=producer,
                templates=templates(),
                signer=URLSafeTimedSerializer(key.get_secret_value(), salt="chimera-console"),
                throttle=LoginThrottle(console.login_attempts, console.login_window_seconds),
            )
            yield
        finally:
            await producer.stop()
            await pool.close()

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
