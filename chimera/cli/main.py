"""Chimera: trends in, short videos out, on Kafka and PostgreSQL.

Quick start: `chimera stack up`, `chimera migrate`, `chimera up` (or `chimera demo` for one
whole run). Settings come from the environment (see the README); failures print one `error:`
line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError

from chimera import stack
from chimera.cli.access import access_app
from chimera.cli.accounts import accounts_app, keys_app
from chimera.cli.common import ErrorsAsOneLine, load_settings, package_version
from chimera.cli.console import console
from chimera.cli.mcp import mcp_app
from chimera.cli.ops import dlq_app, replay_app
from chimera.cli.review import review_app
from chimera.cli.stack import stack_app
from chimera.cli.users import users_app
from core import db
from core.errors import ChimeraError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, cls=ErrorsAsOneLine)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chimera {package_version()}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Chimera's commands."""


app.add_typer(stack_app, name="stack")
app.add_typer(users_app, name="users")
app.add_typer(review_app, name="review")
app.command()(console)
app.add_typer(mcp_app, name="mcp")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(access_app, name="access")


@app.command()
def migrate(
    downgrade: Annotated[
        str | None, typer.Option(help="Downgrade to this revision instead (e.g. base).")
    ] = None,
) -> None:
    """Upgrade the database schema to the newest revision (or downgrade with --downgrade)."""
    settings = load_settings(principal=None)  # the schema's owner, as DATABASE_URL says
    if downgrade:
        db.downgrade(settings.dsn(), downgrade)
    else:
        db.upgrade(settings.dsn())
    revision = asyncio.run(db.current_revision(settings.dsn()))
    typer.echo(f"database {settings.redacted_dsn()} at revision {revision or 'base'}")


@app.command()
def demo(
    timeout: Annotated[
        float, typer.Option(help="Give up waiting after this many seconds.")
    ] = 900.0,
) -> None:
    """Run the whole pipeline once on the embedded default and print a summary."""
    from rich.console import Console

    from chimera.demo import format_summary, run_demo

    settings = load_settings(principal=None)
    result = run_demo(settings, timeout, echo=typer.echo, console=Console(stderr=True))
    typer.echo(format_summary(result))
    raise typer.Exit(0 if result.settled else 1)


@app.command()
def agent(
    name: Annotated[
        str, typer.Argument(help="research | orchestrator | generate | publish | audit")
    ],
) -> None:
    """Run one agent in the foreground until SIGTERM/SIGINT (graceful stop)."""
    import agents

    if name not in agents.AGENTS:
        raise ChimeraError(f"no agent {name!r}; choose one of {', '.join(agents.AGENTS)}")
    settings = load_settings(principal=None)  # agents.build picks the agent's own
    _configure_logging()

    if name == "publish":  # it opens sealed account tokens: a missing key is one line, now
        from core.crypto import keyring_for

        keyring_for(settings)

    async def run() -> None:
        from agents.runtime.lifecycle import freeze_startup_objects

        await db.require_schema(settings)  # one line naming `chimera migrate`, not a traceback
        # Built inside the loop: aiokafka clients bind to the running loop.
        app = agents.build(name, settings).app
        app.after_startup(freeze_startup_objects)
        await app.run()

    asyncio.run(run())


@app.command()
def up(
    scale: Annotated[
        list[str] | None,
        typer.Option(help="Replicas of an agent, e.g. --scale generate=2 (repeatable)."),
    ] = None,
) -> None:
    """Run every agent and the audit sink as separate processes, in the foreground."""
    import signal

    from chimera.supervisor import AgentProcesses

    replicas: dict[str, int] = {}
    for item in scale or []:
        name, _, count = item.partition("=")
        if not count.isdigit() or int(count) < 1:
            raise ChimeraError(f"--scale takes NAME=COUNT, got {item!r}")
        replicas[name] = int(count)
    settings = load_settings(principal=None)
    stack.up(settings)
    db.upgrade(settings.dsn())
    procs = AgentProcesses(env={})
    procs.start(replicas=replicas)
    typer.echo(f"running {', '.join(procs.procs)}; Ctrl-C stops them")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and not procs.dead():
        time.sleep(0.5)
    if procs.dead() and not stopping:
        typer.echo(f"an agent exited: {procs.dead()}", err=True)
    typer.echo(f"stopped: {procs.stop()}")


events_app = typer.Typer(no_args_is_help=True, help="Event contracts.")
app.add_typer(events_app, name="events")


@events_app.command("schema")
def events_schema(
    out: Annotated[Path, typer.Option(help="Folder to write <EventType>.schema.json into.")] = Path(
        "docs/schemas"
    ),
) -> None:
    """Write a JSON Schema per event, for producers in other languages."""
    import json

    from events import EVENTS

    out.mkdir(parents=True, exist_ok=True)
    for name, model in sorted(EVENTS.items()):
        schema = model.model_json_schema()
        schema["$id"] = f"https://chimera.invalid/schemas/{name}.schema.json"
        schema["title"] = name
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
        typer.echo(f"wrote {out / f'{name}.schema.json'}")


@app.command()
def inject(
    source: Annotated[str, typer.Argument(help="A JSONL file, - for stdin, or one JSON event.")],
    skip_invalid: Annotated[bool, typer.Option(help="Send the valid lines anyway.")] = False,
) -> None:
    """Validate and publish events (or bare trend objects) from JSON lines."""
    from chimera.ops.inject import parse_lines, send

    if source == "-":
        lines = sys.stdin.read().splitlines()
    elif source.lstrip().startswith("{"):
        lines = [source]
    else:
        path = Path(source)
        if not path.is_file():
            raise ChimeraError(f"no such file: {source}")
        lines = path.read_text().splitlines()
    events, problems = parse_lines(lines)
    for problem in problems:
        typer.echo(f"line {problem.line}: {problem.reason}", err=True)
    if problems and not skip_invalid:
        raise ChimeraError(
            f"{len(problems)} invalid line(s); nothing sent (--skip-invalid sends the valid ones)"
        )
    sent = asyncio.run(send(load_settings(), events))
    typer.echo(f"sent {sent} event(s)" + (f", skipped {len(problems)} invalid" if problems else ""))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Agents' groups, lag, dead letters, alerts, states, outbox; exit 1 when unhealthy."""
    import json
    import logging

    from chimera.ops.status import StatusSettings, collect, render

    # the report says when Kafka is down; aiokafka's own connection errors are noise here
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    settings = load_settings()
    try:
        options = StatusSettings()
    except PydanticValidationError as exc:
        raise ChimeraError(f"invalid CHIMERA_STATUS_* settings: {exc.errors()[0]['msg']}") from exc
    report = asyncio.run(collect(settings, options))
    typer.echo(json.dumps(report, indent=2, default=str) if as_json else render(report))
    raise typer.Exit(0 if report["healthy"] else 1)


@app.command()
def asyncapi(
    out: Annotated[Path, typer.Option(help="Folder of the <agent>.json documents.")] = Path(
        "docs/asyncapi"
    ),
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Write nothing; exit 1 naming the documents that are out of date."
        ),
    ] = False,
) -> None:
    """Write each agent's AsyncAPI document, generated from the code (or --check them)."""
    from chimera.docs.asyncapi import stale, write

    if check:
        outdated = stale(out)
        for path in outdated:
            typer.echo(f"stale: {path}", err=True)
        if outdated:
            typer.echo("regenerate them with `chimera asyncapi` and commit them", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: every AsyncAPI document is up to date")
        return
    for path in write(out):
        typer.echo(f"wrote {path}")


skill_app = typer.Typer(no_args_is_help=True, help="Skills: list them, run one.")
app.add_typer(skill_app, name="skill")


@skill_app.command("list")
def skill_list(
    schemas: Annotated[bool, typer.Option(help="Print input/output JSON schemas too.")] = False,
) -> None:
    """List the registered skills (with their JSON schemas when asked)."""
    import json

    from skills import load_all

    for name, spec in sorted(load_all().items()):
        if schemas:
            typer.echo(json.dumps(spec.schemas(), indent=2))
        else:
            typer.echo(f"{name:<24} {spec.description}")


@skill_app.command("run")
def skill_run(
    name: Annotated[str, typer.Argument(help="e.g. skill_fetch_trends")],
    data: Annotated[str, typer.Argument(help="Input as JSON, or @file.json.")] = "{}",
) -> None:
    """Run one skill on JSON input and print its output JSON (exit 1 when it failed)."""
    import json

    from chimera.run_skill import run_skill
    from skills import load_all

    registry = load_all()
    if name not in registry:
        raise ChimeraError(f"no skill {name!r}; `chimera skill list` shows them")
    if data.startswith("@"):
        path = Path(data[1:])
        if not path.is_file():
            raise ChimeraError(f"no such file: {path}")
        data = path.read_text()
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ChimeraError(f"input is not JSON: {exc}") from exc
    from chimera.progress import RichProgress

    with RichProgress() as bars:  # a bar per long stage, on stderr
        output = asyncio.run(run_skill(load_settings(), registry[name], parsed, bars))
    typer.echo(output.model_dump_json(indent=2))
    raise typer.Exit(0 if output.success else 1)


app.add_typer(replay_app, name="replay")
app.add_typer(dlq_app, name="dlq")


def _configure_logging() -> None:
    from core.observability import configure_logging  # JSON lines (CHIMERA_LOG_FORMAT)

    configure_logging()


def main() -> None:
    import logging
    import os

    # Everything Chimera writes (state, media, keys, logs) is its owner's only: the code that
    # makes a folder or file sets its mode (core.private); this umask also covers the files that
    # tools such as ffmpeg make. The local publisher opens up exactly the published page.
    os.umask(0o077)
    # aiokafka logs "Topic ... not found in cluster metadata" at ERROR while a topic that was
    # just created propagates; the send waits for it anyway, so it is noise for people here.
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)
    app()


if __name__ == "__main__":
    main()
