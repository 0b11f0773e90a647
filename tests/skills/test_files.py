"""A writer killed mid-write leaves a temporary file; the next process to write there removes
it, never one a live writer holds (real processes, SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from skills.files import TEMP_MARK

ROOT = Path(__file__).resolve().parents[2]


def python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


def swept(folder: Path) -> str:
    """What `sweep(folder)` removed, counted by a new process."""
    code = f"""
        from pathlib import Path
        from skills.files import sweep
        print(len(sweep(Path({str(folder)!r}))))
        """
    return python(code).communicate(timeout=60)[0]


def wait_until(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_copy_leaves_debris_the_next_publisher_removes(tmp_path: Path) -> None:
    """The local publisher's atomic copy, killed half-way (its source is a pipe that stops)."""
    folder = tmp_path / "publish"
    source = tmp_path / "slow.mp4"
    os.mkfifo(source)
    writer = python(
        f"""
        from pathlib import Path
        from skills.files import copy_atomic
        copy_atomic(Path({str(source)!r}), Path({str(folder / "videos" / "v.mp4")!r}))
        """
    )
    with open(source, "wb") as pipe:  # opens once the child reads
        pipe.write(b"\0" * 65536)
        pipe.flush()
        wait_until(lambda: bool(temporaries(folder / "videos")))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    [debris] = temporaries(folder / "videos")
    assert debris.startswith(".v.mp4.")
    time.sleep(0.2)  # a restart takes a moment: the debris is older than the next process

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 1000)
    publisher = python(
        f"""
        import asyncio
        from pathlib import Path
        from skills.publish.local import LocalPublisher
        from skills.publish.models import PublishContentInput
        request = PublishContentInput(platform="local", video_path=Path({str(video)!r}),
            title="t", description="", tags=[], publication_id="p-1")
        print(asyncio.run(LocalPublisher(Path({str(folder)!r})).publish(request)).post_id)
        """
    )
    out, _ = publisher.communicate(timeout=60)
    assert publisher.returncode == 0 and out.strip().startswith("local-")
    assert temporaries(folder / "videos") == []
    assert temporaries(folder) == []
    assert len(list((folder / "videos").iterdir())) == 1


def test_a_live_writers_temporary_file_is_kept_a_dead_ones_removed(tmp_path: Path) -> None:
    target = tmp_path / "renders" / "x.mp4"
    holder = python(
        f"""
        import sys, time
        from pathlib import Path
        from skills.files import held_temporary
        with held_temporary(Path({str(target)!r}), ".mp4") as tmp:
            tmp.write_bytes(b"half a video")
            print(tmp.name, flush=True)
            time.sleep(600)
        """
    )
    assert holder.stdout is not None
    name = holder.stdout.readline().strip()
    try:
        kept = swept(target.parent)
        assert kept.strip() == "0" and temporaries(target.parent) == [name]  # alive: kept
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    time.sleep(0.2)
    removed = swept(target.parent)
    assert removed.strip() == "1" and temporaries(target.parent) == []
    # A file written after the sweeping process started is never its business.
    fresh = python(
        f"""
        import time
        from pathlib import Path
        from skills.files import sweep
        folder = Path({str(target.parent)!r})
        (folder / ".y.mp4.abc.tmp").write_bytes(b"")  # not held, but newer than this process
        print(len(sweep(folder)))
        """
    ).communicate(timeout=60)[0]
    assert fresh.strip() == "0" and temporaries(target.parent) == [".y.mp4.abc.tmp"]


def test_a_killed_renders_scratch_folder_is_removed_a_live_ones_kept(tmp_path: Path) -> None:
    """`held_directory` (a render's scratch files): swept whole once its holder is dead."""
    target = tmp_path / "renders" / "x.mp4"
    holder = python(
        f"""
        import time
        from pathlib import Path
        from skills.files import held_directory
        with held_directory(Path({str(target)!r})) as work:
            (work / "master.wav").write_bytes(b"half a sound track")
            print(work.name, flush=True)
            time.sleep(600)
        """
    )
    assert holder.stdout is not None
    name = holder.stdout.readline().strip()
    try:
        kept = swept(target.parent)
        assert kept.strip() == "0" and temporaries(target.parent) == [name]
        assert (target.parent / name / "master.wav").is_file()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    time.sleep(0.2)
    removed = swept(target.parent)
    assert removed.strip() == "1" and temporaries(target.parent) == []
