"""`chimera access apply`: a deployment's principals from CHIMERA_<PRINCIPAL>_PASSWORD."""

from __future__ import annotations

from typing import Any

import pytest

from chimera.access import PRINCIPALS, setup
from chimera.access import kafka as kafka_access
from core.errors import ConfigError
from core.settings import Settings


def test_passwords_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_PUBLISH_PASSWORD", "p-secret")
    monkeypatch.setenv("CHIMERA_OPERATOR_PASSWORD", "o-secret")
    passwords = setup.PrincipalPasswords()
    assert passwords.of() == {"publish": "p-secret", "operator": "o-secret"}
    assert "p-secret" not in repr(passwords)


def test_apply_creates_users_acls_and_logins(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setattr(
        kafka_access, "ensure_users", lambda s, users: calls.setdefault("users", users) and []
    )
    monkeypatch.setattr(kafka_access, "apply", lambda s, acls: len(calls.setdefault("acls", acls)))

    async def provision(dsn: str, roles: dict[str, str]) -> None:
        calls["roles"] = roles

    monkeypatch.setattr(setup, "_provision", provision)
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS="kafka:9092",
        DATABASE_URL="postgresql://chimera:owner@postgres:5432/chimera",
        topic_prefix="prod",
    )
    passwords = {p: f"{p}-pw" for p in PRINCIPALS}
    setup.apply(settings, passwords)
    assert set(calls["users"]) == {f"chimera-{p}" for p in PRINCIPALS}
    assert calls["users"]["chimera-publish"] == "publish-pw"
    assert set(calls["roles"]) == {f"chimera_{p}" for p in PRINCIPALS}
    assert calls["acls"] == kafka_access.matrix(settings)
    assert all(a.name.startswith(("prod.", "kafka-cluster")) for a in calls["acls"])


def test_no_password_is_one_line() -> None:
    with pytest.raises(ConfigError, match="CHIMERA_<PRINCIPAL>_PASSWORD"):
        setup.apply(Settings(KAFKA_BOOTSTRAP_SERVERS="kafka:9092"), {})


def test_the_env_file_has_every_secret_compose_asks_for() -> None:
    text = setup.env_file()
    names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
    assert {f"CHIMERA_{p.upper()}_PASSWORD" for p in PRINCIPALS} <= names
    assert {
        "CHIMERA_KAFKA_ADMIN_PASSWORD",
        "CHIMERA_PG_OWNER_PASSWORD",
        "CHIMERA_SECRET_KEY",
    } <= names
    assert setup.env_file() != text  # fresh secrets each time
