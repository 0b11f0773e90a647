"""docker-compose.yml cannot run here (no Docker engine); check it against the code instead."""

from __future__ import annotations

from pathlib import Path

import typer.main
import yaml

import agents
from chimera.cli import app

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def cli_commands() -> set[str]:
    command = typer.main.get_command(app)
    return set(command.commands)  # type: ignore[attr-defined]


def test_every_service_command_names_a_real_entry_point() -> None:
    services = compose()["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["chimera"]' in dockerfile
    commands = cli_commands()
    agent_services = {}
    for name, service in services.items():
        if "command" not in service:
            continue
        command = service["command"]
        assert command[0] in commands, f"{name}: `chimera {command[0]}` does not exist"
        if command[0] == "agent":
            assert command[1] in agents.AGENTS, f"{name}: no agent {command[1]!r}"
            agent_services[command[1]] = service
    # one service per agent, the audit sink included
    assert set(agent_services) == set(agents.AGENTS)
    for module in agents.AGENTS.values():
        assert (ROOT / (module.replace(".", "/") + ".py")).exists()


def test_services_are_wired_with_health_checks_and_conditions() -> None:
    services = compose()["services"]
    for infra in ("kafka", "postgres"):
        assert services[infra]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        if service.get("command", [None])[0] != "agent":
            continue
        assert service["healthcheck"]["test"], name
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert service["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
        env = service["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert service["build"] == "." and service["image"] == "chimera:latest"


def test_health_check_command_exists() -> None:
    services = compose()["services"]
    test = services["research"]["healthcheck"]["test"]
    assert test[1] == "chimera" and test[2] in cli_commands()
