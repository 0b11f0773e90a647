"""The broker, then the database, stopped and started again under load: the agents (research,
orchestrator and the audit sink, as processes) reconnect by themselves, nothing is lost or
doubled, and /health/ready reports each outage while it lasts.

The test starts a broker and a server of its own (free ports, a temporary folder), never the
shared ones: those keep serving every other test meanwhile.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.chaos import outages, own_kafka, own_postgres
from tests.chaos.conftest import report

pytestmark = pytest.mark.chaos
LOAD = 300  # trends at 25/s: the two outages fall a third and two thirds of the way


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    # The server's files live outside pytest's folder: another pytest session on the machine
    # may set /tmp/pytest-of-<user> back to 0700, and the server runs as `postgres` under root.
    pg_root = Path(tempfile.mkdtemp(prefix="chimera-chaos-pg-"))
    broker, server = own_kafka(tmp_path), own_postgres(pg_root)
    try:
        await asyncio.gather(asyncio.to_thread(broker.up), asyncio.to_thread(server.up))
        yield broker, server
    finally:
        await asyncio.gather(asyncio.to_thread(broker.down), asyncio.to_thread(server.down))
        shutil.rmtree(pg_root, ignore_errors=True)


async def test_the_broker_and_then_postgres_restarted_under_load_lose_and_double_nothing(
    stack: tuple[Any, Any], tmp_path: Path, seed: int
) -> None:
    broker, server = stack
    result = await outages(broker, server, tmp_path / "world", load=LOAD, rate=25.0, down_s=5.0)
    report("outages", seed, result)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["content_requested"] == LOAD and result["audit_rows"] == 3 * LOAD
    assert set(result["outages"]) == {"kafka", "postgres"}
