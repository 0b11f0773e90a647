"""Users, for admins: add, change role, reset password, disable (chimera.auth.users)."""

from __future__ import annotations

from starlette.responses import Response

from chimera.auth import users
from chimera.auth.roles import Action, Role
from chimera.console import audit
from chimera.console.security import Ctx, new_nonce, page
from core.errors import ValidationError
from events import Topics


@page(Action.MANAGE_USERS)
async def users_page(ctx: Ctx) -> Response:
    """Every user with their role and state, and the forms to change them."""
    return ctx.render(
        "users.html",
        users=await users.list_users(ctx.state.pool),
        roles=[r.value for r in Role],
        nonce=new_nonce(),
    )


@page(Action.MANAGE_USERS)
async def change(ctx: Ctx) -> Response:
    """One change: add, role, password or disable (the form's `op`)."""
    form = await ctx.request.form()
    op = str(form.get("op", ""))
    name = str(form.get("name", "")).strip()
    db = ctx.state.pool
    if op == "add":
        user = await users.add_user(
            db, name, str(form.get("role", "")), str(form.get("password", ""))
        )
        text, detail = f"Added {user.name} ({user.role.value}).", {"role": user.role.value}
    elif op == "role":
        role = str(form.get("role", ""))
        await users.set_role(db, name, role)
        text, detail = f"{name} is now {role}.", {"role": role}
    elif op == "password":
        await users.reset_password(db, name, str(form.get("password", "")))
        text, detail = f"Password of {name} reset.", {}
    elif op == "disable":
        if name == ctx.session.user:
            raise ValidationError("you cannot disable yourself")
        await users.disable_user(db, name)
        text, detail = f"Disabled {name}: their sessions and tokens stop working.", {}
    else:
        raise ValidationError(f"unknown change {op!r}")
    await audit.record(
        ctx.state.producer,
        Topics(ctx.state.settings.topic_prefix),
        f"user:{op}",
        actor=ctx.session.user,
        key=f"{name}:{form.get('nonce', '')}",
        input_data={"user": name, **detail},
    )
    return ctx.redirect("/users", {"kind": "ok", "text": text})
