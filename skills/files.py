"""Writing files so that readers never see half of one, and no writer leaves debris forever.

Every temporary file is `.<target name>.<random>.tmp<suffix>` beside its target: written,
synced, then renamed onto the target in one step. Its writer holds an exclusive lock (flock)
on it while it exists; a process killed mid-write loses its locks with it, so what it left is
recognisable: `sweep_once(folder)` (called by a writer's first use of a folder in a process)
removes the temporary files there that no live process holds and that are older than this
process. A scratch folder (`held_directory`, a render's intermediate files) is named and held
the same way, through a lock file inside it.

Temporary files are made by `mkstemp` (scratch folders by `mkdtemp`), so what lands is
owner-only (0600, 0700) whatever the umask; a missing folder is created owner-only
(`core.private`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from core.private import private_dir

log = logging.getLogger("chimera.skills.files")
TEMP_MARK = ".tmp"


def _process_started() -> float:
    """When this process started (Linux: its age from /proc), else now (skills load at the
    start of a process)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(0.0, age)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()


# A file's time comes from a coarse clock: one written just after the start may look older.
_STARTED = _process_started() - 0.05
_swept: set[Path] = set()
_swept_lock = threading.Lock()


def _temporary(target: Path, suffix: str) -> tuple[int, Path]:
    """A new temporary file beside `target`, created and locked: (its fd, its path)."""
    if not target.parent.exists():
        private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=f"{TEMP_MARK}{suffix}"
    )
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, Path(tmp)


@contextmanager
def held_temporary(target: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `target` for another program to write (ffmpeg, say), locked
    by this process while the block runs and removed after it unless it was renamed."""
    fd, tmp = _temporary(target, suffix)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


HELD = ".held"  # the lock file inside a held directory


@contextmanager
def held_directory(target: Path, suffix: str = ".work") -> Iterator[Path]:
    """A scratch folder beside `target`, locked by this process while the block runs and
    removed (with everything in it) after it; a killed holder's is swept like a file."""
    if not target.parent.exists():
        private_dir(target.parent)
    folder = Path(
        tempfile.mkdtemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=f"{TEMP_MARK}{suffix}"
        )
    )
    fd = os.open(folder / HELD, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


@contextmanager
def _replacing(target: Path, mode: str) -> Iterator[IO[Any]]:
    """A handle on a temporary file beside `target`, renamed onto it (synced) on success."""
    fd, tmp = _temporary(target, "")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, target)  # still locked: never seen unheld before it is renamed
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step."""
    with _replacing(path, "w") as handle:
        handle.write(text)


def copy_atomic(source: Path, target: Path) -> None:
    """Replace `target` with a copy of `source` in one step."""
    with _replacing(target, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, 1024 * 1024)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step."""
    with _replacing(path, "wb") as handle:
        handle.write(data)


def _unheld(lock: Path, debris: Path) -> bool:
    """Whether `debris` is a dead writer's: older than this process and `lock` held by no
    one (a folder whose lock file was never made is judged by its own age)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return lock != debris and debris.stat().st_mtime < _STARTED
        except OSError:
            return False
    except OSError:
        return False
    try:
        if os.fstat(fd).st_mtime >= _STARTED:
            return False  # written since this process started: not a dead writer's
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        return True
    finally:
        os.close(fd)


def sweep(folder: Path) -> list[Path]:
    """Remove the temporary files and scratch folders in `folder` that no live process holds
    and that are older than this process (a dead writer's debris); returns what it removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and TEMP_MARK in entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if _unheld(path / HELD, path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        elif entry.is_file(follow_symlinks=False) and _unheld(path, path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    if removed:
        log.warning(
            "removed %d temporary file(s) a stopped writer left in %s: %s",
            len(removed),
            folder,
            ", ".join(p.name for p in removed),
        )
    return removed


def sweep_once(folder: Path) -> None:
    """`sweep(folder)` the first time this process writes there."""
    key = folder.resolve()
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep(folder)
