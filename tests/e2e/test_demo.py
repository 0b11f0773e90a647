"""`chimera demo` end to end: agents as processes, real renders, the local page."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from chimera.demo import format_summary, page_exists, run_demo
from core import crypto
from core.settings import Settings
from tests.conftest import Services

pytestmark = pytest.mark.slow


def test_the_demo_settles_and_reports(services: Services, tmp_path: Path) -> None:
    # The master key from a key file, as on the local stack (not from the environment): the
    # agents, started as processes with the URLs, must be told where it is.
    key_file = tmp_path / "state" / "secret.key"
    crypto.ensure_key_file(key_file)
    settings: Settings = services.kafka_settings(state_dir=tmp_path / "state").model_copy(
        update={"secret_key": None, "secret_key_file": key_file}
    )
    lines: list[str] = []
    result = run_demo(
        settings, timeout=600, echo=lines.append, database=f"demo_{uuid.uuid4().hex[:8]}"
    )
    summary = result.summary
    assert result.settled, format_summary(result)
    assert summary["trends"] == 5  # the bundled sample feed
    assert summary["workflows"] == {"completed": 5}
    assert summary["publications"] == {"published": 5}
    assert summary["engagement_rows"] >= 5
    assert summary["audit_rows"] > 50
    assert len(summary["videos"]) == 5 and all(Path(v).stat().st_size for v in summary["videos"])
    assert page_exists(result)
    # The content archive: one commit per published item; replaying adds none.
    assert summary["archive_commits"] == 5
    assert summary["replayed_records"] and summary["replayed_records"] >= 10
    assert summary["archive_commits_after_replay"] == 5
    assert set(summary["exit_codes"].values()) == {0}  # every agent stopped cleanly
    assert any(line.startswith("agents stopped: ") for line in lines)
    assert "pipeline settled" in format_summary(result)
    # Every video: the neural voice, several cuts, music, mastered loudness (issue 10).
    assert len(summary["made"]) == 5
    for video in summary["made"]:
        assert video["voice"] == "piper" and video["music"] == "ambient-pad.m4a"
        assert video["cuts"] >= 2 and video["caption_style"] == "karaoke"
        assert abs(video["lufs"] + 14) <= 1 and video["true_peak"] <= -1
    assert "voice piper" in format_summary(result)
