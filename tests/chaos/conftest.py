"""Chaos tests: agents as real processes on the real broker and database (bench/chaos.py
holds the scenarios; these run them small enough for `.ci/run`). CHIMERA_CHAOS_SEED replays a
run's random choices; each test prints its counts as one JSON line."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos import World
from core.settings import Settings


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("CHIMERA_CHAOS_SEED") or random.randrange(10**6))


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    """This test's world on the shared services: its database, its topics, its folders."""
    made = World(settings, tmp_path / "chaos")
    try:
        yield made
    finally:
        made.stop()


def report(name: str, seed: int, result: dict[str, object]) -> None:
    """The counts of a chaos run, on one line (pytest -s shows them; the report quotes them)."""
    print(json.dumps({"chaos": name, "seed": seed, **result}, sort_keys=True, default=str))
