"""Owner-only files and folders: what Chimera writes is its owner's alone, whatever the umask.

State (`state_dir`: credentials, the master key, the local stack's data, logs) and media
(`media_dir`: downloads, transcripts, renders) are created `0700`, the files in them `0600`,
by the code that creates them, not only by the CLI's umask (a library caller, a test or a
supervisor may run with 022). The one exception is the local publisher's page and its videos
(`skills.publish.local`): the published output is meant to be read, so its folder is `0755` and
its files `0644` (`public_dir`, `public_file`).

Existing folders are tightened only when this user owns them and they are not shared (sticky,
like /tmp): a state dir pointed at a shared place is left as it is. The local PostgreSQL, run as
the `postgres` user when Chimera runs as root, needs to traverse to its data folder: the stack
then adds the execute bit for others on the folders above it (`0701`: no listing, no reading),
and, as root, tightening an existing folder keeps that one bit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PUBLIC_DIR = 0o755
PUBLIC_FILE = 0o644


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid != os.geteuid() or info.st_mode & stat.S_ISVTX:
        return
    # As root, keep the traverse bit the stack grants the `postgres` user (o+x only, see the
    # module notes): taking it away stops the running server (it reopens its files by path).
    keep = info.st_mode & 0o001 if mode == PRIVATE_DIR and os.geteuid() == 0 else 0
    if stat.S_IMODE(info.st_mode) != mode | keep:
        os.chmod(path, mode | keep)


def private_dir(path: Path) -> Path:
    """`path` as an owner-only folder (created with its missing parents, each 0700)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make an existing file owner-only (a tool such as ffmpeg created it by the umask)."""
    os.chmod(path, PRIVATE_FILE)
    return path


def public_dir(path: Path) -> Path:
    """A folder others may read (the published page's): created if missing, then 0755."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PUBLIC_DIR)
    return path


def public_file(path: Path) -> Path:
    """A file others may read (the published page and its videos): 0644."""
    os.chmod(path, PUBLIC_FILE)
    return path
