"""`chimera replay` and `chimera dlq`: the typer layer over chimera.ops.replay / .dlq.

Commands parse arguments (bad ones are typer.BadParameter: usage and exit 2), run one async
function, and print its result as a table or, with --json, as JSON. Expected failures
(ChimeraError, an unreachable broker) print `error: ...` and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaError

from chimera.cli.common import load_settings
from chimera.ops import dlq, replay
from core.errors import ChimeraError
from core.settings import Settings

T = TypeVar("T")

replay_app = typer.Typer(
    help="Move a consumer group's offsets (dry run unless --execute), or copy a time window "
    "of a topic into another (`replay copy`)."
)
dlq_app = typer.Typer(
    no_args_is_help=True, help="Dead letters: list, show, redrive to their topic, purge."
)


def _settings() -> Settings:
    """The CLI's Settings (clear errors for invalid ones)."""
    return load_settings()


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one async operation; expected failures become `error: ...` and exit 1."""
    try:
        settings = _settings()
        return asyncio.run(work(settings))
    except ChimeraError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    except KafkaError as exc:
        typer.secho(f"error: Kafka: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


def _bad(param: str, work: Callable[[], T]) -> T:
    """Argument validation: a ChimeraError becomes typer.BadParameter on `param`."""
    try:
        return work()
    except ChimeraError as exc:
        raise typer.BadParameter(str(exc), param_hint=param) from exc


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """Left-aligned columns; None prints as -."""
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _short(text: str | None, width: int = 60) -> str:
    """One line, cut to `width` with an ellipsis."""
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _echo_json(data: object) -> None:
    """Print `data` as indented JSON."""
    typer.echo(json.dumps(data, indent=2, default=str))


# --- replay --------------------------------------------------------------------------------
@replay_app.callback(invoke_without_command=True)
def replay_reset(
    ctx: typer.Context,
    topic: Annotated[
        list[str] | None,
        typer.Option(
            "--topic",
            "-t",
            help="Topic (full name or stream, e.g. trends); repeatable. Default: "
            "the agent's topics, or those the group has committed on.",
        ),
    ] = None,
    group: Annotated[str | None, typer.Option(help="Consumer group, by name.")] = None,
    agent: Annotated[
        str | None,
        typer.Option(help="Consumer group by agent: orchestrator means <prefix>.orchestrator."),
    ] = None,
    partition: Annotated[
        list[int] | None,
        typer.Option("--partition", "-p", help="Only this partition; repeatable. Default: all."),
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="earliest | latest")] = None,
    to_offset: Annotated[
        int | None, typer.Option(help="This offset (clamped to what the partition holds).")
    ] = None,
    to_datetime: Annotated[
        str | None,
        typer.Option(help="The first record at or after this ISO 8601 time (no zone: UTC)."),
    ] = None,
    by_duration: Annotated[
        str | None, typer.Option(help="The first record in this last span: 2h, 30m, 1d, 1h30m.")
    ] = None,
    execute: Annotated[bool, typer.Option(help="Apply the reset (default: dry run).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Reset a consumer group's offsets (like kafka-consumer-groups --reset-offsets).

    Dry run by default: prints, per partition, the committed offset, the new one and how
    many records will be replayed or skipped; --execute applies it. Refused while the group
    has live members (stop the agent first).
    """
    if ctx.invoked_subcommand is not None:
        return
    if not any((topic, group, agent, to, to_offset is not None, to_datetime, by_duration)):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if (group is None) == (agent is None):
        raise typer.BadParameter(
            "name the consumer group: --group NAME or --agent NAME (exactly one)",
            param_hint="--group/--agent",
        )
    target = _bad(
        "--to/--to-offset/--to-datetime/--by-duration",
        lambda: replay.Target.choose(
            to=to, to_offset=to_offset, to_datetime=to_datetime, by_duration=by_duration
        ),
    )

    async def work(settings: Settings) -> replay.ReplayPlan:
        name = replay.agent_group(settings, agent) if agent else group
        assert name is not None
        topics = await replay.reset_topics(settings, name, agent, topic or [])
        return await replay.reset_offsets(
            settings, name, topics, target, partition or None, execute=execute
        )

    plan = _run(work)
    if as_json:
        _echo_json(plan.to_dict())
        return
    typer.echo(format_plan(plan))


def format_plan(plan: replay.ReplayPlan) -> str:
    """The plan as the operator reads it."""
    head = f"group {plan.group}: reset to {plan.target} — " + (
        "EXECUTED" if plan.executed else "dry run (nothing moved; --execute applies)"
    )
    rows = [
        (p.topic, p.partition, p.committed, p.new, p.replayed, p.skipped, p.note)
        for p in plan.partitions
    ]
    table = _table(("TOPIC", "PARTITION", "COMMITTED", "NEW", "REPLAYED", "SKIPPED", "NOTE"), rows)
    verb = "moved" if plan.executed else "would move"
    tail = (
        f"{len(plan.partitions)} partition(s) {verb}: {plan.replayed} record(s) to "
        f"replay, {plan.skipped} to skip"
    )
    return f"{head}\n{table}\n{tail}"


@replay_app.command("copy")
def replay_copy(
    source: Annotated[str, typer.Option("--from", help="Source topic (or stream name).")],
    destination: Annotated[
        str,
        typer.Option(
            "--to", help="Destination topic (created with the source's partitions if missing)."
        ),
    ],
    since: Annotated[str, typer.Option(help="Window start, ISO 8601 (inclusive).")],
    until: Annotated[str, typer.Option(help="Window end, ISO 8601 (exclusive).")],
    keep_timestamps: Annotated[
        bool, typer.Option(help="Keep the records' timestamps (default: new ones).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Copy a time window of a topic into another topic (keys, headers, values kept)."""
    start = _bad("--since", lambda: replay.parse_datetime(since))
    stop = _bad("--until", lambda: replay.parse_datetime(until))
    if start >= stop:
        raise typer.BadParameter("--since must be before --until", param_hint="--since")
    result = _run(
        lambda s: replay.copy_window(
            s, source, destination, start, stop, keep_timestamps=keep_timestamps
        )
    )
    if as_json:
        _echo_json(result.to_dict())
        return
    if result.created_destination:
        typer.echo(f"created topic {result.destination}")
    typer.echo(
        _table(
            ("PARTITION", "FROM OFFSET", "TO OFFSET", "COPIED"),
            [
                (p, r[0], r[1], result.per_partition.get(p, 0))
                for p, r in sorted(result.ranges.items())
            ],
        )
    )
    typer.echo(
        f"copied {result.copied} record(s) from {result.source} to {result.destination} "
        f"({start.isoformat()} ≤ time < {stop.isoformat()})"
    )


# --- dlq -----------------------------------------------------------------------------------
@dlq_app.command("list")
def dlq_list(
    topic: Annotated[
        str | None,
        typer.Argument(
            help="A dead-letter topic, its original topic or stream name; default: all."
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Handled ones too, marked.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List refused records (unhandled ones unless --all): one line per record, with the
    consumer groups that refused it and why; --json lists every dead letter."""
    found = _run(lambda s: dlq.list_poison_records(s, topic, include_handled=show_all))
    if as_json:
        _echo_json(
            {t: [d.summary() for r in records for d in r.letters] for t, records in found.items()}
        )
        return
    typer.echo(format_list(found, show_all))


def format_list(found: dict[str, list[dlq.PoisonRecord]], show_all: bool) -> str:
    """Refused records per dead-letter topic, one line each, as the operator reads them."""
    lines = []
    total = letters_total = 0
    for topic, records in found.items():
        if not records:
            continue
        unhandled = sum(not r.handled for r in records)
        total += len(records)
        letters_total += sum(len(r.letters) for r in records)
        lines.append(
            f"{topic}: {unhandled} unhandled"
            + (f", {len(records) - unhandled} handled" if show_all else "")
        )
        headers = [
            "ORIGINAL",
            "KEY",
            "ERROR CODE",
            "EXCEPTION",
            "REFUSED BY",
            "DEAD LETTERS",
            "DEAD-LETTERED AT",
            "MESSAGE",
        ]
        rows = []
        for record in records:
            s = record.first.summary()
            row = [
                f"{s['original_topic']}/{s['original_partition']}/{s['original_offset']}",
                _short(s["key"], 24),
                ",".join(record.error_codes),
                _short(s["exception_class"], 40),
                ",".join(record.groups),
                ",".join(f"{d.partition}:{d.offset}" for d in record.letters),
                (s["dead_lettered_at"] or "")[:19],
                _short(s["exception_message"]),
            ]
            if show_all:
                row.insert(0, _status(record))
            rows.append(row)
        lines.append(_table(["STATUS", *headers] if show_all else headers, rows, indent="  "))
    checked = len(found)
    what = "refused record(s)" if show_all else "unhandled refused record(s)"
    lines.append(
        f"{total} {what} ({letters_total} dead letter(s)) in "
        f"{sum(bool(v) for v in found.values())} of {checked} dead-letter topic(s)"
    )
    return "\n".join(lines)


def _status(record: dlq.PoisonRecord) -> str:
    actions = {d.handled.action if d.handled else "unhandled" for d in record.letters}
    return ",".join(sorted(actions))


@dlq_app.command("show")
def dlq_show(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic (or original/stream).")],
    partition: Annotated[int, typer.Argument(help="Its partition.")],
    offset: Annotated[int, typer.Argument(help="Its offset.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show one dead letter: why, where it came from, its headers and payload."""
    letter = _run(lambda s: dlq.show(s, topic, partition, offset))
    details = letter.details()
    if as_json:
        _echo_json(details)
        return
    payload = details.pop("payload")
    headers = details.pop("headers")
    handled = details.pop("handled")
    stacktrace = details.pop("exception_stacktrace")
    width = max(len(k) for k in details)
    for key, value in details.items():
        typer.echo(f"{key.ljust(width)}  {'-' if value is None else value}")
    typer.echo(
        f"{'handled'.ljust(width)}  "
        + ("no" if handled is None else " ".join(str(v) for v in handled.values() if v is not None))
    )
    typer.echo("headers:" + ("" if headers else " none"))
    for key, value in headers.items():
        typer.echo(f"  {key}: {value}")
    typer.echo("payload:")
    typer.echo(payload)
    if stacktrace:
        typer.echo("stack trace:")
        typer.echo(stacktrace)


def _selection(
    offset: list[str] | None, partition: list[int] | None, all_: bool, error_code: str | None
) -> dlq.Selection:
    """The records chosen by --offset/--partition/--all/--error-code (BadParameter if not)."""
    parts = partition or []
    if offset and len(parts) > 1:
        raise typer.BadParameter(
            "with --offset, give at most one --partition (or write P:N)", param_hint="--partition"
        )
    records = _bad(
        "--offset", lambda: dlq.Selection.parse_offsets(offset or [], parts[0] if parts else None)
    )
    return _bad(
        "--offset/--all/--error-code",
        lambda: dlq.Selection(
            records=records,
            all_=all_,
            error_code=error_code,
            partitions=() if offset else tuple(parts),
        ),
    )


OffsetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--offset", "-o", help="PARTITION:OFFSET, or OFFSET with --partition; repeatable."
    ),
]
PartitionOpt = Annotated[
    list[int] | None,
    typer.Option(
        "--partition", "-p", help="Partition of bare offsets, or narrows --all/--error-code."
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every unhandled dead letter.")]
CodeOpt = Annotated[str | None, typer.Option(help="Unhandled ones with this error code.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@dlq_app.command("redrive")
def dlq_redrive(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic (or original/stream).")],
    offset: OffsetOpt = None,
    partition: PartitionOpt = None,
    all_: AllOpt = False,
    error_code: CodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send dead letters back to their original topic once the cause is fixed.

    Same key, value and original headers (the chimera.dlq.* ones removed, a
    chimera.redriven-from header added); each is then marked handled.
    """
    selection = _selection(offset, partition, all_, error_code)
    done = _run(lambda s: dlq.redrive(s, topic, selection))
    if as_json:
        _echo_json(
            [{"from": r.letter.ref, "to": f"{r.topic}/{r.partition}/{r.offset}"} for r in done]
        )
        return
    if not done:
        typer.echo("nothing to redrive: no unhandled dead letter matches")
        return
    typer.echo(
        _table(
            ("DEAD LETTER", "ERROR CODE", "REDRIVEN TO"),
            [
                (r.letter.ref, r.letter.error_code, f"{r.topic}/{r.partition}/{r.offset}")
                for r in done
            ],
        )
    )
    typer.echo(f"redrove {len(done)} dead letter(s)")


@dlq_app.command("purge")
def dlq_purge(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic (or original/stream).")],
    offset: OffsetOpt = None,
    partition: PartitionOpt = None,
    all_: AllOpt = False,
    error_code: CodeOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Mark dead letters as handled without redriving them (after confirmation).

    They are not deleted: `dlq list --all` still shows them until the topic's retention
    removes them.
    """
    selection = _selection(offset, partition, all_, error_code)
    chosen = _run(lambda s: dlq.select(s, topic, selection))[1]
    if not chosen:
        typer.echo("nothing to purge: no unhandled dead letter matches")
        return
    if not yes:
        typer.echo(
            f"about to purge {len(chosen)} dead letter(s): "
            + ", ".join(d.ref for d in chosen[:10])
            + (", …" if len(chosen) > 10 else "")
        )
        if sys.stdin is None or sys.stdin.closed:
            _refuse()
        try:
            confirmed = typer.confirm("purge them?", default=False)
        except typer.Abort:
            _refuse()
        if not confirmed:
            typer.echo("nothing purged")
            raise typer.Exit(1)
    chosen_refs = {(d.partition, d.offset) for d in chosen}
    exact = dlq.Selection(records=tuple(sorted(chosen_refs)))
    purged = _run(lambda s: dlq.purge(s, topic, exact))
    if as_json:
        _echo_json([d.ref for d in purged])
        return
    typer.echo(f"purged {len(purged)} dead letter(s): " + ", ".join(d.ref for d in purged))


def _refuse() -> NoReturn:
    """No confirmation possible: say how to purge anyway, exit 1."""
    typer.secho(
        "error: no answer on stdin to confirm the purge; pass --yes to purge without asking",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(1)
