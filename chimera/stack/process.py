"""Small helpers to run a detached server process and to stop exactly the one we started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    try:
        # PostgreSQL's postmaster.pid holds more lines; the pid is always the first.
        return int(pid_file.read_text().split("\n", 1)[0].strip())
    except (FileNotFoundError, ValueError):
        return None


def cmdline(pid: int) -> str:
    """The process's command line, or '' when it is gone (Linux /proc)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_ours(pid: int | None, marker: str) -> bool:
    """True when `pid` is alive and its command line carries `marker` (our config path).

    A pid file can outlive its process and the pid can be reused by something else; the
    marker keeps `down` from signalling a stranger.
    """
    if pid is None:
        return False
    line = cmdline(pid)
    if not line or marker not in line:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Field 3 is the state; Z means a zombie waiting for its parent, i.e. not running.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def spawn(
    argv: Sequence[str], log_file: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session (it outlives us), output appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return proc


def terminate(pid: int, marker: str, timeout: float = 30.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL; only if the process is still ours."""
    if not is_ours(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_ours(pid, marker):
            return
        time.sleep(0.2)
    if is_ours(pid, marker):
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not is_ours(pid, marker):
                return
            time.sleep(0.1)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
