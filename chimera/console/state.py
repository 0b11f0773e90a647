"""What the console holds while it runs: built in the application's lifespan, never at
import time (settings, the database pool, the audit producer, templates, the throttle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from itsdangerous import URLSafeTimedSerializer
from starlette.templating import Jinja2Templates

from chimera.console.settings import ConsoleSettings
from chimera.console.throttle import LoginThrottle
from core.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass
class ConsoleState:
    """The console's resources, valid between the lifespan's start and stop."""

    settings: Settings
    console: ConsoleSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    templates: Jinja2Templates
    signer: URLSafeTimedSerializer
    throttle: LoginThrottle
    # The last `chimera status` report and when it was taken (monotonic seconds).
    status_cache: tuple[float, dict[str, Any]] | None = field(default=None)
