"""`chimera stack up | down | status`: the local Kafka broker and PostgreSQL server."""

from __future__ import annotations

import time

import typer

from chimera import stack
from chimera.cli.common import ErrorsAsOneLine, load_settings

stack_app = typer.Typer(
    no_args_is_help=True, cls=ErrorsAsOneLine, help="The local Kafka + PostgreSQL stack."
)


@stack_app.command("up")
def stack_up() -> None:
    """Start a real Kafka broker and PostgreSQL server (unless configured elsewhere)."""
    settings = load_settings(principal=None)
    began = time.monotonic()
    key = stack.ensure_master_key(settings)
    results = stack.up(settings)
    for name, started in results:
        typer.echo(f"{name}: {'started' if started else 'already up'}")
    if not results:
        typer.echo("nothing to start: KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL are both set")
    typer.echo(
        f"stack up in {time.monotonic() - began:.1f}s "
        f"(kafka {settings.bootstrap_servers}, postgresql {settings.redacted_dsn()})"
    )
    if key is not None:
        typer.echo(key.describe())


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `chimera stack up` started; leaves external servers alone."""
    for name, stopped in stack.down(load_settings(principal=None)):
        typer.echo(f"{name}: {'stopped' if stopped else 'was not running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Say what runs where; exit 1 when something is down."""
    healthy = True
    for c in stack.status(load_settings(principal=None)):
        state = "up" if c.running else "DOWN"
        healthy &= c.running
        typer.echo(f"{c.name:<11} {state:<5} {c.where:<40} {c.detail}")
    raise typer.Exit(0 if healthy else 1)
