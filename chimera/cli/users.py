"""`chimera users ...`: the people who may use the console, the review commands and MCP."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from chimera.auth import users
from chimera.auth.roles import Role
from chimera.cli.common import ErrorsAsOneLine, load_settings
from core.db import Executor, create_pool, require_schema
from core.errors import ChimeraError, OperationError
from core.settings import Settings

T = TypeVar("T")

users_app = typer.Typer(
    no_args_is_help=True,
    cls=ErrorsAsOneLine,
    help="People: add, list, disable users; reset passwords; API tokens.",
)


def _run(work: Callable[[Executor], Awaitable[T]]) -> T:
    """Run `work` on a pool of the configured database (checked to be migrated)."""
    settings: Settings = load_settings()

    async def main() -> T:
        await require_schema(settings)
        pool = await create_pool(settings, max_size=2)
        try:
            return await work(pool)
        except OperationError as exc:
            raise ChimeraError(exc.message) from None
        finally:
            await pool.close()

    return asyncio.run(main())


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ @ -).")],
    role: Annotated[Role, typer.Option(help="viewer | reviewer | operator | admin")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input (no prompt)."),
    ] = False,
) -> None:
    """Add a user (the password is prompted for, twice, unless --password-stdin)."""
    password = _password(password_stdin)
    user = _run(lambda db: users.add_user(db, name, role.value, password))
    typer.echo(f"added {user.name} ({user.role})")


@users_app.command("list")
def list_() -> None:
    """List users with their roles."""
    for user in _run(users.list_users):
        state = "disabled" if user.disabled else "active"
        typer.echo(f"{user.name:<24} {user.role:<9} {state:<8} since {user.created_at:%Y-%m-%d}")


@users_app.command("disable")
def disable(name: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: their password and tokens stop working at once."""
    _run(lambda db: users.disable_user(db, name))
    typer.echo(f"disabled {name}")


@users_app.command("reset-password")
def reset(
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a new password for a user."""
    password = _password(password_stdin)
    _run(lambda db: users.reset_password(db, name, password))
    typer.echo(f"password of {name} reset")


@users_app.command("role")
def role_(
    name: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Argument(help="viewer | reviewer | operator | admin")],
) -> None:
    """Change a user's role."""
    _run(lambda db: users.set_role(db, name, role.value))
    typer.echo(f"{name} is now {role.value}")


@users_app.command("token")
def token(
    name: Annotated[str, typer.Argument()],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create an API token for automation (MCP over HTTP, scripts); it is shown once."""
    secret = _run(lambda db: users.create_token(db, name, label))
    typer.echo(secret)
    typer.echo("store it now: it is not shown again", err=True)


@users_app.command("revoke-token")
def revoke(token_id: Annotated[str, typer.Argument(help="The id part: chm_<id>_...")]) -> None:
    """Revoke an API token."""
    _run(lambda db: users.revoke_token(db, token_id))
    typer.echo(f"revoked {token_id}")
