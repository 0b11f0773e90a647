"""`chimera access readme | apply | env`: least privilege, documented and set up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chimera.cli.common import ErrorsAsOneLine, load_settings

access_app = typer.Typer(
    no_args_is_help=True,
    cls=ErrorsAsOneLine,
    help="Who may do what on Kafka and PostgreSQL: the README's tables, a deployment's set-up.",
)


@access_app.command("readme")
def readme(
    path: Annotated[Path, typer.Option("--readme", help="The README to write.")] = Path(
        "README.md"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when the README is stale.")
    ] = False,
) -> None:
    """Write the README's Kafka ACL matrix and PostgreSQL grants, generated from the code."""
    from chimera.docs.access import is_current, write

    if check:
        if not is_current(path):
            typer.echo(f"stale: {path}'s access matrix; run `chimera access readme`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{path}: the access matrix is up to date")
        return
    typer.echo(f"{'wrote' if write(path) else 'unchanged:'} {path}")


@access_app.command("apply")
def apply() -> None:
    """As the broker's super user and the database owner (KAFKA_SASL_* and DATABASE_URL): the
    principals' SCRAM users, the ACL matrix of CHIMERA_TOPIC_PREFIX, and the roles' logins, from
    CHIMERA_<PRINCIPAL>_PASSWORD (docker-compose's one-shot `access` service)."""
    from chimera.access.setup import PrincipalPasswords
    from chimera.access.setup import apply as apply_access

    settings = load_settings(principal=None)
    users, acls, roles = apply_access(settings, PrincipalPasswords().of())
    typer.echo(
        f"kafka: {users} SCRAM users created, {acls} ACLs in place; postgresql: {roles} logins"
    )


@access_app.command("env")
def env() -> None:
    """Print a fresh .env for docker-compose: every principal's password and a master key."""
    from chimera.access.setup import env_file

    typer.echo(env_file(), nl=False)
