"""The README's ACL matrix and grants are what the code generates."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from chimera.cli import app
from chimera.docs.access import section, write
from core.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def test_the_readme_matrix_is_current() -> None:
    result = CliRunner().invoke(app, ["access", "readme", "--check", "--readme", str(README)])
    assert result.exit_code == 0, "run `chimera access` and commit README.md"


def test_a_stale_matrix_is_found_and_rewritten(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    text = README.read_text().replace("| `trends` |", "| `trends_renamed` |")
    stale.write_text(text)
    result = CliRunner().invoke(app, ["access", "readme", "--check", "--readme", str(stale)])
    assert result.exit_code == 1
    assert write(stale) and section() in stale.read_text()


def test_the_matrix_says_who_may_do_what() -> None:
    text = section()
    assert "| topic `chimera.trends` | RWC | RC | · | · | · |" in text  # publish: nothing
    assert "| `audit_logs` | · | · | · | · | SI | S |" in text  # the sink inserts only
