"""`chimera`: the single command-line entry point for people.

Each command builds its Settings here (the composition root) and hands them down.
Expected failures (ChimeraError) print one clear line and exit 1; no tracebacks for them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError

from chimera import db, stack
from chimera.errors import ChimeraError
from chimera.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
stack_app = typer.Typer(no_args_is_help=True, help="The local Kafka + PostgreSQL stack.")
app.add_typer(stack_app, name="stack")


def load_settings() -> Settings:
    try:
        return Settings()
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ChimeraError(f"invalid settings: {problems}") from exc


@stack_app.command("up")
def stack_up() -> None:
    """Start a real Kafka broker and PostgreSQL server (unless configured elsewhere)."""
    settings = load_settings()
    began = time.monotonic()
    results = stack.up(settings)
    for name, started in results:
        typer.echo(f"{name}: {'started' if started else 'already up'}")
    if not results:
        typer.echo("nothing to start: KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL are both set")
    typer.echo(f"stack up in {time.monotonic() - began:.1f}s "
               f"(kafka {settings.bootstrap_servers}, postgresql {settings.redacted_dsn()})")


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `chimera stack up` started; leaves external servers alone."""
    for name, stopped in stack.down(load_settings()):
        typer.echo(f"{name}: {'stopped' if stopped else 'was not running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Say what runs where; exit 1 when something is down."""
    healthy = True
    for c in stack.status(load_settings()):
        state = "up" if c.running else "DOWN"
        healthy &= c.running
        typer.echo(f"{c.name:<11} {state:<5} {c.where:<40} {c.detail}")
    raise typer.Exit(0 if healthy else 1)


@app.command()
def migrate(
    downgrade: Annotated[
        str | None, typer.Option(help="Downgrade to this revision instead (e.g. base).")
    ] = None,
) -> None:
    """Upgrade the database schema to the newest revision (or downgrade with --downgrade)."""
    settings = load_settings()
    if downgrade:
        db.downgrade(settings.dsn(), downgrade)
    else:
        db.upgrade(settings.dsn())
    revision = asyncio.run(db.current_revision(settings.dsn()))
    typer.echo(f"database {settings.redacted_dsn()} at revision {revision or 'base'}")


@app.command()
def demo() -> None:
    """Set up the embedded default (local stack, migrated schema) and run the main job."""
    settings = load_settings()
    stack_up()
    db.upgrade(settings.dsn())
    typer.echo(f"schema migrated to {db.head_revision()}")
    typer.echo("The pipeline agents are not built yet; the stack is up and migrated. "
               "Stop it with `chimera stack down`.")


def main() -> None:
    try:
        app()
    except ChimeraError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
