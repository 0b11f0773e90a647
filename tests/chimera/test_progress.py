"""Progress bars: a bar per stage from a skill's progress, and from an agent's JSON log."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from chimera.progress import LogProgress, RichProgress
from skills.context import Progress


def test_a_bar_per_stage() -> None:
    out = io.StringIO()
    with RichProgress(console=Console(file=out, force_terminal=False, width=100)) as bars:
        bars(Progress("narration", 0.5, "speaking"))
        bars(Progress("narration", 1.0, "piper: 5.0 s"))
        bars(Progress("render", 0.25, "1.0/4.0 s"))
        tasks = {t.fields["stage"]: t for t in bars.bars.tasks}
    assert tasks["narration"].completed == 100 and tasks["render"].completed == 25
    assert "piper: 5.0 s" in out.getvalue()


def test_bars_from_an_agents_log(tmp_path: Path) -> None:
    log = tmp_path / "generate.log"
    lines = [
        {"message": "started"},
        {"stage": "narration", "percent": 0, "detail": "speaking the script"},
        {"stage": "narration", "percent": 100, "detail": "piper: 18 s"},
        {"stage": "render", "percent": 40, "detail": "7/18 s"},
    ]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    bars = RichProgress(console=Console(file=io.StringIO()))
    watch = LogProgress(log, bars)
    watch.poll()
    with log.open("a") as handle:  # a second video starts; a half-written line waits
        handle.write(json.dumps({"stage": "narration", "percent": 0}) + '\n{"stage"')
    watch.poll()
    shown = {t.fields["stage"]: t.completed for t in bars.bars.tasks}
    assert shown == {
        "video 1 narration": 100,
        "video 1 render": 40,
        "video 2 narration": 0,
    }
