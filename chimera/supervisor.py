"""Running agents as separate processes (what `chimera up`, `chimera demo` and the chaos runs
do)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agents import AGENTS
from core.credentials import as_principal, process_env
from core.private import PRIVATE_FILE, private_dir
from core.settings import Settings


def agent_environments(settings: Settings) -> dict[str, dict[str, str]]:
    """Per agent, the environment that makes its process connect as its own principal (its
    Kafka user, its PostgreSQL role) and nothing else: no credentials file, so it cannot
    become another. Without credentials (a PLAINTEXT broker), `settings`' own connection."""
    environments: dict[str, dict[str, str]] = {}
    for name in AGENTS:
        own = process_env(as_principal(settings, name))
        own.pop("CHIMERA_CREDENTIALS_FILE", None)
        environments[name] = own
    return environments


@dataclass
class AgentProcesses:
    """A set of agent subprocesses, each `python -m chimera.cli agent <name>`, by label
    (`name`, or `name-2`... for replicas). `agent_env[name]` adds to every process of one
    agent (its own credentials), `env_of[label]` to one process's environment."""

    env: dict[str, str]
    log_dir: Path | None = None
    #: Per agent, what it alone gets on top of `env` (its own credentials).
    agent_env: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env_of: dict[str, dict[str, str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def start(self, names: list[str] | None = None, replicas: dict[str, int] | None = None) -> None:
        for name in names or list(AGENTS):
            for index in range((replicas or {}).get(name, 1)):
                self.spawn(name, name if index == 0 else f"{name}-{index + 1}")

    def spawn(self, name: str, label: str | None = None) -> subprocess.Popen[bytes]:
        """Start one agent process under `label` (its log appended to `<log_dir>/<label>.log`)."""
        label = label or name
        out = None
        if self.log_dir is not None:
            private_dir(self.log_dir)
            log = self.log_dir / f"{label}.log"
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
            out = open(fd, "ab")  # noqa: SIM115
        try:
            self.procs[label] = subprocess.Popen(
                [sys.executable, "-m", "chimera.cli", "agent", name],
                env={
                    **os.environ,
                    **self.env,
                    **self.agent_env.get(name, {}),
                    **self.env_of.get(label, {}),
                },
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                stdin=subprocess.DEVNULL,
            )
        finally:
            if out is not None:
                out.close()
        self.names[label] = name
        return self.procs[label]

    def kill(self, label: str) -> int | None:
        """SIGKILL one agent (no shutdown of any kind) and reap it; its exit code."""
        proc = self.procs[label]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        return proc.wait(10)

    def restart(self, label: str) -> subprocess.Popen[bytes]:
        """Start a stopped (or killed) agent again, same name, label and environment."""
        if self.procs[label].poll() is None:
            raise RuntimeError(f"{label} is still running")
        return self.spawn(self.names[label], label)

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
