"""Progress bars (rich) for the commands a person watches: `chimera skill run`, `chimera demo`.

`RichProgress` is a `ProgressSink`: one bar per stage (download, transcription, narration,
footage, render, quality, upload). `LogProgress` feeds it from an agent's JSON log, where the
runtime's `ProgressReporter` writes the stage and percent of its long work (the demo's agents
run as processes, so their log is how the demo sees them).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import get_args

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from skills.context import Progress as StageProgress
from skills.context import ProgressStage

STAGES: tuple[str, ...] = get_args(ProgressStage)


class RichProgress:
    """A bar per stage on stderr, updated from any thread."""

    def __init__(self, console: Console | None = None, transient: bool = False) -> None:
        self.bars = Progress(
            TextColumn("[bold]{task.fields[stage]:<13}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console or Console(stderr=True),
            transient=transient,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bars.stop()

    def show(self, key: str, label: str, fraction: float, detail: str = "") -> None:
        """Set bar `key` (made on first use) to `fraction`."""
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = self.bars.add_task("", total=100, stage=label, detail="")
        self.bars.update(task, completed=round(fraction * 100, 1), detail=detail[:60])

    def __call__(self, progress: StageProgress) -> None:
        self.show(progress.stage, progress.stage, progress.fraction, progress.detail)


class LogProgress:
    """Reads an agent's JSON log as it grows and shows its progress lines as bars."""

    def __init__(self, log: Path, bars: RichProgress, prefix: str = "video") -> None:
        self.log = log
        self.bars = bars
        self.prefix = prefix
        self.offset = 0
        self.items = 0

    def poll(self) -> None:
        if not self.log.is_file():
            return
        with self.log.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for raw in data[:end].splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            stage = line.get("stage") if isinstance(line, dict) else None
            if stage not in STAGES or "percent" not in line:
                continue
            if stage == "narration" and line["percent"] == 0:
                self.items += 1
            key = f"{self.prefix}{self.items}:{stage}"
            label = f"{self.prefix} {self.items} {stage}"
            self.bars.show(key, label, float(line["percent"]) / 100, str(line.get("detail", "")))
