"""Writing files so that readers never see half of one: temp file beside it, then rename.

The temporary file is made by `mkstemp`, so what lands is owner-only (0600) whatever the umask;
a missing folder is created owner-only (`core.private`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from core.private import private_dir


@contextmanager
def _replacing(target: Path, mode: str) -> Iterator[IO[Any]]:
    """A handle on a temporary file beside `target`, renamed onto it (synced) on success."""
    if not target.parent.exists():
        private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step."""
    with _replacing(path, "w") as handle:
        handle.write(text)


def copy_atomic(source: Path, target: Path) -> None:
    """Replace `target` with a copy of `source` in one step."""
    with _replacing(target, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
