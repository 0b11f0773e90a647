"""PostgreSQL least privilege: one role per process, and a declarative matrix of what each may
do on each table.

Roles are `chimera_<principal>` (`core.credentials.pg_role`): one per agent, `chimera_operator`
for the ops tools and the people's console. The tables belong to whoever
runs the migrations; `apply` (run after every migration, by `migrations/env.py`) revokes what
our roles hold on each table and grants exactly what `GRANTS` says, creating missing roles as
NOLOGIN (a deployment gives them LOGIN and a password: `provision`, run by the local stack).

Every table must have a decision here, even "nobody but the owner" (an empty dict): the test
`tests/core/test_grants.py` fails when a migration adds a table that is not placed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core.credentials import pg_role

#: Shared by every agent: the runtime's inbox, outbox, parked events and the records each
#: consumer group dead-lettered (`agents.runtime.dead_letters`: recorded, then marked sent).
RUNTIME: Mapping[str, str] = {
    "inbox": "SELECT, INSERT",
    "outbox": "SELECT, INSERT, UPDATE, DELETE",
    "parked_events": "SELECT, INSERT, UPDATE, DELETE",
    "dead_letters": "SELECT, INSERT, UPDATE",
}
AGENTS = ("research", "orchestrator", "generate", "publish", "audit")
READ = "SELECT"

#: table -> principal -> privileges. The owner (the migrating role) keeps everything.
GRANTS: dict[str, dict[str, str]] = {
    "alembic_version": {p: READ for p in (*AGENTS, "operator")},
    "trends": {
        "research": "SELECT, INSERT, UPDATE",
        "orchestrator": "SELECT, INSERT, UPDATE",
        "publish": READ,  # the content archive records the trend an item came from
        "operator": READ,
    },
    "content": {
        "orchestrator": "SELECT, INSERT, UPDATE",
        "generate": "SELECT, UPDATE",
        "publish": READ,
        "operator": READ,
    },
    "workflows": {"orchestrator": "SELECT, INSERT, UPDATE", "operator": READ},
    "budget_usage": {"orchestrator": "SELECT, INSERT, UPDATE", "operator": READ},
    "publications": {
        "publish": "SELECT, INSERT, UPDATE",
        "orchestrator": READ,
        "operator": "SELECT, UPDATE",
    },
    "engagement": {"publish": "SELECT, INSERT", "operator": READ},
    "audit_logs": {"audit": "SELECT, INSERT", "operator": READ},
    "rate_limit_buckets": {
        p: "SELECT, INSERT, UPDATE" for p in ("research", "generate", "publish")
    },
    "trend_snapshots": {"research": "SELECT, INSERT, DELETE"},
    # People (chimera.auth): `chimera users` and the console (the operator principal) manage
    # them, sign people in and keep their sessions; no agent sees them.
    "users": {"operator": "SELECT, INSERT, UPDATE"},
    "api_tokens": {"operator": "SELECT, INSERT, UPDATE"},
    "console_sessions": {"operator": "SELECT, INSERT, UPDATE, DELETE"},
    # The approval gate: the orchestrator applies decisions; people read them and acknowledge
    # alerts through the operator's tools.
    "reviews": {
        "orchestrator": "SELECT, INSERT, UPDATE",
        "publish": READ,  # the content archive records who approved an item
        "operator": READ,
    },
    "review_refusals": {"orchestrator": "SELECT, INSERT", "operator": READ},
    "alert_acknowledgements": {"operator": "SELECT, INSERT"},
    "platform_accounts": {
        "publish": "SELECT, UPDATE",
        "operator": "SELECT, INSERT, UPDATE, DELETE",
    },
    **{
        table: {**{a: privileges for a in AGENTS}, "operator": READ}
        for table, privileges in RUNTIME.items()
    },
}


def roles() -> list[str]:
    """Every role the matrix names."""
    return sorted({pg_role(p) for grants in GRANTS.values() for p in grants})


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def statements(existing_tables: set[str]) -> list[str]:
    """The SQL that makes the database match `GRANTS` (for the tables that exist)."""
    sql = [
        f"""DO $$ BEGIN
              CREATE ROLE {_quote(role)} NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"""
        for role in roles()
    ]
    sql.append("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    everyone = ", ".join(_quote(r) for r in roles())
    for table in sorted(existing_tables & set(GRANTS)):
        sql.append(f"REVOKE ALL ON TABLE {_quote(table)} FROM PUBLIC, {everyone}")
        for principal, privileges in sorted(GRANTS[table].items()):
            sql.append(
                f"GRANT {privileges} ON TABLE {_quote(table)} TO {_quote(pg_role(principal))}"
            )
            if "INSERT" in privileges:
                # Serial columns: the sequence behind them (none: a harmless no-op query).
                sql.append(
                    f"""DO $$ DECLARE s text; BEGIN
                          FOR s IN SELECT pg_get_serial_sequence(
                                       quote_ident('{table}'), a.attname)
                                   FROM pg_attribute a
                                   WHERE a.attrelid = '{_quote(table)}'::regclass
                                     AND a.attnum > 0 AND NOT a.attisdropped LOOP
                            IF s IS NOT NULL THEN
                              EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', s,
                                             '{pg_role(principal)}');
                            END IF;
                          END LOOP; END $$"""
                )
    return sql


TABLES_SQL = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


def apply(execute: Callable[[str], object], existing_tables: set[str]) -> None:
    """Run `statements` through `execute` (a sync or driver-level statement runner)."""
    for statement in statements(existing_tables):
        execute(statement)


def provision_statements(passwords: Mapping[str, str]) -> list[str]:
    """SQL that gives each role of `passwords` (role -> password) LOGIN and that password,
    creating it when missing. Passwords are quoted literals: run it on a trusted connection."""
    out = []
    for role, password in sorted(passwords.items()):
        literal = "'" + password.replace("'", "''") + "'"
        out.append(
            f"""DO $$ BEGIN
                  CREATE ROLE {_quote(role)} LOGIN PASSWORD {literal};
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                  ALTER ROLE {_quote(role)} LOGIN PASSWORD {literal};
                END $$"""
        )
    return out
