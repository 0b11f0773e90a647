"""A real PostgreSQL server for the local stack, or the one named by DATABASE_URL.

With DATABASE_URL set, Chimera only uses that server. Otherwise it runs the machine's
PostgreSQL binaries (Debian's `postgresql` package, which `make setup` installs when missing)
on a data directory inside the git-ignored state folder, listening on 127.0.0.1 only.
PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from chimera.stack import process
from core.errors import StackError
from core.settings import Settings


@dataclass(frozen=True)
class PostgresStatus:
    running: bool
    managed: bool
    pid: int | None
    dsn: str
    data_dir: Path | None
    log_file: Path | None
    detail: str = ""


def find_bindir() -> Path:
    """Where initdb/pg_ctl live: pg_config's answer, else the newest Debian install."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise StackError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Run `make setup` "
        "(it installs Debian's postgresql package) or set DATABASE_URL to a server you have."
    )


class LocalPostgres:
    """The local server's files and process under `<state>/postgres`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "postgres"
        self.data_dir = self.home / "data"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "server.log"
        self.port = settings.pg_port

    # --- running the binaries as a non-root user when we are root ---------------------------
    def _run_as(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise StackError(
                "running as root needs a `postgres` user to own the server; "
                "Debian's postgresql package creates it"
            ) from exc
        return ["runuser", "-u", "postgres", "--"]

    def _prepare_dirs(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam("postgres")
        for path in [self.home, self.socket_dir, *self.home.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        # The postgres user must be able to reach the state folder: grant traverse (x) on
        # our own ancestor directories that lack it (a clone in a 0700 temp dir, say).
        for parent in self.home.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & 0o001 and parent.stat().st_uid == os.geteuid():
                os.chmod(parent, mode | 0o001)

    def _pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._run_as(), str(find_bindir() / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
        )

    # --- lifecycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        pid = process.read_pid(self.data_dir / "postmaster.pid")
        return pid if process.is_ours(pid, str(self.data_dir)) else None

    def up(self) -> bool:
        """Start our server (initialising it on first use) unless it runs. True if started."""
        started = False
        if self.pid() is None:
            if process.port_open("127.0.0.1", self.port):
                raise StackError(
                    f"port {self.port} is taken by another process; set "
                    "CHIMERA_PG_PORT or DATABASE_URL"
                )
            self.home.mkdir(parents=True, exist_ok=True)
            self._prepare_dirs()
            if not (self.data_dir / "PG_VERSION").exists():
                result = self._pg(
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "chimera",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                )
                if result.returncode != 0:
                    raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")
            options = (
                f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=300 -c shared_buffers=256MB"
            )
            result = self._pg(
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                options,
            )
            if result.returncode != 0:
                raise StackError(
                    f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n"
                    + process.tail(self.log_file)
                )
            started = True
        asyncio.run(ensure_database(self.settings))
        asyncio.run(provision_roles(self.settings))
        return started

    def down(self) -> bool:
        if self.pid() is None:
            return False
        result = self._pg(
            "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"
        )
        pid = self.pid()
        if result.returncode != 0 and pid is not None:
            process.terminate(pid, str(self.data_dir))
        return True

    def status(self) -> PostgresStatus:
        pid = self.pid()
        ok, detail = asyncio.run(_ping(self.settings.dsn())) if pid else (False, "not running")
        return PostgresStatus(
            ok, True, pid, self.settings.redacted_dsn(), self.data_dir, self.log_file, detail
        )


async def _ping(dsn: str) -> tuple[bool, str]:
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    try:
        version = await conn.fetchval("SHOW server_version")
        return True, f"PostgreSQL {version}"
    finally:
        await conn.close()


def external_status(settings: Settings) -> PostgresStatus:
    ok, detail = asyncio.run(_ping(settings.dsn()))
    return PostgresStatus(ok, False, None, settings.redacted_dsn(), None, None, detail)


async def provision_roles(settings: Settings) -> None:
    """Every principal's role with LOGIN and its password from the credentials file
    (`core.credentials`; created here when missing). Grants come with the migrations."""
    from chimera.access import PRINCIPALS
    from core import credentials, grants

    path = settings.credentials_path or settings.state_dir / "credentials.json"
    creds = credentials.ensure(path, [credentials.ADMIN, *PRINCIPALS])
    passwords = {
        credentials.pg_role(name): secret.pg_password.get_secret_value()
        for name, secret in creds.principals.items()
        if name != credentials.ADMIN
    }
    conn = await asyncpg.connect(settings.dsn(), timeout=10)
    try:
        for statement in grants.provision_statements(passwords):
            await conn.execute(statement)
    finally:
        await conn.close()


async def ensure_database(settings: Settings) -> None:
    """Create the local stack's database when it does not exist yet."""
    admin = settings.dsn().rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", settings.pg_database
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{settings.pg_database}"')
    finally:
        await conn.close()
