"""Running agents as separate processes (what `chimera up` and `chimera demo` do)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agents import AGENTS
from core.private import PRIVATE_FILE, private_dir


@dataclass
class AgentProcesses:
    """A set of agent subprocesses, each `python -m chimera.cli agent <name>`."""

    env: dict[str, str]
    log_dir: Path | None = None
    #: Per agent, what it alone gets on top of `env` (its own credentials).
    agent_env: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, names: list[str] | None = None, replicas: dict[str, int] | None = None) -> None:
        for name in names or list(AGENTS):
            for index in range((replicas or {}).get(name, 1)):
                label = name if index == 0 else f"{name}-{index + 1}"
                out = None
                if self.log_dir is not None:
                    private_dir(self.log_dir)
                    log = self.log_dir / f"{label}.log"
                    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
                    out = open(fd, "ab")  # noqa: SIM115
                self.procs[label] = subprocess.Popen(
                    [sys.executable, "-m", "chimera.cli", "agent", name],
                    env={**os.environ, **self.env, **self.agent_env.get(name, {})},
                    stdout=out,
                    stderr=subprocess.STDOUT if out else None,
                    stdin=subprocess.DEVNULL,
                )
                if out is not None:
                    out.close()

    def dead(self) -> dict[str, int]:
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every agent (graceful), SIGKILL what is still there after `timeout`."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return {n: p.returncode for n, p in self.procs.items()}
