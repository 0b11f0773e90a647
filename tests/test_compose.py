"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check them against
the code instead - commands, settings, health checks, scaling."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

import agents
from chimera.cli import app

ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("core", "chimera", "agents", "skills")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def cli_commands() -> set[str]:
    command = typer.main.get_command(app)
    return set(command.commands)  # type: ignore[attr-defined]


def agent_services() -> dict[str, dict[str, Any]]:
    """Agent name -> its compose service."""
    return {
        s["command"][1]: s
        for s in compose()["services"].values()
        if s.get("command", [None])[0] == "agent"
    }


def chimera_services() -> dict[str, dict[str, Any]]:
    """Services that run the Chimera image (their environment is read by our settings)."""
    return {n: s for n, s in compose()["services"].items() if s.get("image") == "chimera:latest"}


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class in the code (every module imported to find them)."""
    for package in CODE_PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            importlib.import_module(info.name)
    found: list[type[BaseSettings]] = []
    pending = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in CODE_PACKAGES and cls not in found:
            found.append(cls)
    return found


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Environment variable name (upper case) -> field name, as pydantic-settings reads them."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: dict[str, str] = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = [field.alias or f"{prefix}{name}"]
        for choice in choices:
            names[choice.upper()] = name
    return names


def known_env() -> dict[str, list[tuple[type[BaseSettings], str]]]:
    known: dict[str, list[tuple[type[BaseSettings], str]]] = {}
    for cls in settings_classes():
        for env, field in env_names(cls).items():
            known.setdefault(env, []).append((cls, field))
    return known


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


# --- commands --------------------------------------------------------------------------------
def test_every_service_command_names_a_real_entry_point() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["chimera"]' in dockerfile
    commands = cli_commands()
    for name, service in chimera_services().items():
        command = service["command"]
        assert command[0] in commands, f"{name}: `chimera {command[0]}` does not exist"
    services = agent_services()
    for name in services:
        assert name in agents.AGENTS, f"no agent {name!r}"
    # one service per agent, the audit sink included
    assert set(services) == set(agents.AGENTS)
    for module in agents.AGENTS.values():
        assert (ROOT / (module.replace(".", "/") + ".py")).exists()


def test_services_are_wired_with_health_checks_and_conditions() -> None:
    services = compose()["services"]
    for infra in ("kafka", "postgres"):
        assert services[infra]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "restart" not in services["migrate"], "a one-shot job must not restart"
    for name, service in agent_services().items():
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", (
            name
        )
        env = service["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert env["DATABASE_URL"].split("@")[1].startswith("postgres:5432/")
        assert service["build"] == "." and service["image"] == "chimera:latest"
        assert service["volumes"] == ["media:/data"], "generate and publish share the media"


# --- health checks ---------------------------------------------------------------------------
def _health_url(service: dict[str, Any]) -> tuple[list[str], str, int, str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "exec form: no shell needed in the container"
    match = re.search(r"http://(127\.0\.0\.1|localhost):(\d+)(/[\w/]+)", " ".join(test))
    assert match, f"no readiness URL in {test}"
    return test, match.group(1), int(match.group(2)), match.group(3)


def test_agent_health_checks_ask_the_readiness_endpoint_on_the_configured_port() -> None:
    from core.observability.settings import ObservabilitySettings

    ops_source = inspect.getsource(importlib.import_module("agents.runtime.ops"))
    for name, service in agent_services().items():
        test, _, port, path = _health_url(service)
        assert test[1:3] == ["python", "-c"], f"{name}: the image's Python, no curl"
        assert "curl" not in " ".join(test) and "wget" not in " ".join(test)
        assert path == "/health/ready" and f'"{path}"' in ops_source, (
            f"{name}: the agents serve no {path}"
        )
        env = service["environment"]
        # the names the agents' settings read, with the values the check relies on
        http = env_names(ObservabilitySettings)
        assert http["CHIMERA_HTTP_PORT"] == "http_port" and int(env["CHIMERA_HTTP_PORT"]) == port
        assert http["CHIMERA_HTTP_HOST"] == "http_host" and env["CHIMERA_HTTP_HOST"] == "0.0.0.0"
        health = service["healthcheck"]
        assert health.get("start_period"), f"{name}: give the agent time to start"


class _Ready(BaseHTTPRequestHandler):
    ready = True

    def do_GET(self) -> None:
        ok = self.path == "/health/ready" and _Ready.ready
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if ok else b'{"status": "unready"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readiness_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_health_check_command_passes_when_ready_and_fails_when_not(
    readiness_server: int,
) -> None:
    """Run the compose health check's Python (pointed at a stand-in server) for real."""
    test, host, port, _ = _health_url(agent_services()["generate"])
    code = test[3].replace(f"{host}:{port}", f"127.0.0.1:{readiness_server}")

    def run() -> int:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=20
        ).returncode

    _Ready.ready = True
    assert run() == 0
    _Ready.ready = False
    assert run() != 0, "a 503 from /health/ready must fail the health check"
    _Ready.ready = True


# --- scaling ---------------------------------------------------------------------------------
def test_agents_can_be_scaled() -> None:
    """`docker compose up --scale generate=3` needs no fixed names and no host ports."""
    for name, service in agent_services().items():
        for key in ("container_name", "ports", "hostname"):
            assert key not in service, f"{name}: `{key}` stops `--scale {name}=N`"


def test_partition_counts_are_set_and_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    services = compose()["services"]
    partitions = {
        int(s["environment"]["CHIMERA_TOPIC_PARTITIONS"]) for s in agent_services().values()
    }
    assert len(partitions) == 1, "every agent must create topics the same way"
    (count,) = partitions
    assert int(_broker_properties()["num.partitions"]) == count
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert count >= 3, "room for a few replicas per agent"
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for needle in (
        "CHIMERA_TOPIC_PARTITIONS",
        "first",
        "kafka-topics",
        "--alter",
        "--partitions",
        "--scale",
    ):
        assert needle in comments, f"the comment block should explain {needle}"


def test_graceful_stop_outlasts_the_agents_shutdown_timeout() -> None:
    for name, service in agent_services().items():
        grace = service["stop_grace_period"]
        assert grace.endswith("s")
        assert float(grace[:-1]) > float(service["environment"]["CHIMERA_SHUTDOWN_TIMEOUT_S"]), name


# --- environment against the code ------------------------------------------------------------
def test_every_variable_set_for_chimera_is_a_real_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    known = known_env()
    env_sets = {f"service {n}": s.get("environment", {}) for n, s in chimera_services().items()}
    env_sets["Dockerfile"] = {
        k: v
        for k, v in dockerfile_env().items()
        if not k.startswith(("PYTHON", "PIP_")) and k != "PATH"
    }
    for where, env in env_sets.items():
        for name in env:
            assert name.upper() in known, f"{where}: {name} is not read by any setting"
        # and each value is valid for, and read as such by, every settings class that reads it
        for key in list(os.environ):
            if key.startswith(("CHIMERA_", "KAFKA_", "DATABASE_URL")):
                monkeypatch.delenv(key)
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        for cls in {cls for name in env for cls, _ in known[name.upper()]}:
            settings = cls()
            for name, value in env.items():
                for field in (f for owner, f in known[name.upper()] if owner is cls):
                    actual = getattr(settings, field)
                    if isinstance(actual, str | int | float | Path):
                        assert actual == type(actual)(value), (where, name, actual)


def test_the_environment_check_can_tell_a_typo() -> None:
    known = known_env()
    for real in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "DATABASE_URL",
        "CHIMERA_TOPIC_PARTITIONS",
        "CHIMERA_HTTP_PORT",
        "CHIMERA_STATUS_MAX_LAG",
        "CHIMERA_PUBLISH_DIR",
    ):
        assert real in known, real
    for typo in ("CHIMERA_TOPIC_PARTITION", "CHIMERA_HTTP_PROT", "KAFKA_BOOTSTRAP_SERVER"):
        assert typo not in known, typo


# --- image -----------------------------------------------------------------------------------
def test_one_slim_non_root_image_with_the_media_tools() -> None:
    dockerfiles = []
    for folder, subfolders, files in os.walk(ROOT):
        # Hidden folders (.venv, .chimera with a live broker's data) are not walked at all.
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        dockerfiles += [Path(folder) / f for f in files if f.startswith("Dockerfile")]
    assert dockerfiles == [ROOT / "Dockerfile"], "one image for everything"
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)  # a builder stage and the image
    assert bases and set(bases) == {"python:3.11-slim"}
    install = re.search(r"apt-get install -y --no-install-recommends ([^\n&]+)", text)
    assert install, "system packages without recommends"
    assert {"ffmpeg", "espeak-ng"} <= set(install.group(1).split())
    assert "rm -rf /var/lib/apt/lists/*" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the agents must not run as root"
    assert re.search(rf"useradd .*{users[-1]}", text)
    env = dockerfile_env()
    assert env["CHIMERA_STATE_DIR"] == "/data", "state under the compose volume"
    assert env["CHIMERA_MEDIA_DIR"].startswith("/data/")


def test_the_console_service_serves_the_console_on_loopback_with_a_health_check() -> None:
    service = compose()["services"]["console"]
    assert service["command"][0] == "console" and "console" in cli_commands()
    assert service["ports"] == ["127.0.0.1:8400:8400"], "published on the host's loopback only"
    assert service["command"][service["command"].index("--port") + 1] == "8400"
    _, _, port, path = _health_url(service)
    assert port == 8400 and path == "/health"
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


# --- security: configured like the local stack --------------------------------------------
def _broker_properties() -> dict[str, str]:
    """The server.properties the kafka service writes (its heredoc), compose's `$$` unescaped."""
    script = compose()["services"]["kafka"]["command"][0]
    body = script.split("<<EOF\n", 1)[1].split("\nEOF\n", 1)[0]
    lines = [line.replace("$$", "$") for line in body.splitlines() if "=" in line]
    return dict(line.split("=", 1) for line in lines)


def test_the_broker_is_secured_like_the_local_stack(tmp_path: Path) -> None:
    from chimera.stack.kafka import LocalKafka
    from core.settings import Settings

    local = LocalKafka(Settings(state_dir=tmp_path, KAFKA_BOOTSTRAP_SERVERS=None))
    local_lines = dict(line.split("=", 1) for line in local._listener_lines())
    broker = _broker_properties()
    for key in (
        "controller.listener.names",
        "inter.broker.listener.name",
        "listener.security.protocol.map",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
        "sasl.mechanism.controller.protocol",
        "listener.name.controller.sasl.enabled.mechanisms",
        "authorizer.class.name",
        "super.users",
        "allow.everyone.if.no.acl.found",
    ):
        assert broker[key] == local_lines[key], key
    assert broker["listeners"].startswith("SASL_PLAINTEXT://:9092,")
    assert broker["advertised.listeners"] == "SASL_PLAINTEXT://kafka:9092"
    script = compose()["services"]["kafka"]["command"][0]
    assert '--add-scram "SCRAM-SHA-512=[name=chimera-admin,password=$$admin]"' in script
    assert "--command-config /tmp/admin.properties" in " ".join(
        compose()["services"]["kafka"]["healthcheck"]["test"]
    ), "the health check must authenticate: the broker refuses anonymous clients"


def _interpolated(value: str) -> list[str]:
    """The variables a compose value takes from the environment, each required (`:?`)."""
    names = re.findall(r"\$\{(\w+)(:\?[^}]*)?\}", value)
    for name, required in names:
        assert required, f"{name} must be required (${{{name}:?...}}), never defaulted"
    return [name for name, _ in names]


def test_each_agent_is_its_own_principal_with_credentials_from_the_environment() -> None:
    from core.credentials import kafka_user, pg_role

    for name, service in agent_services().items():
        env = service["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"] == kafka_user(name)
        assert env["DATABASE_URL"].startswith(f"postgresql://{pg_role(name)}:")
        variable = f"CHIMERA_{name.upper()}_PASSWORD"
        assert _interpolated(env["KAFKA_SASL_PASSWORD"]) == [variable]
        assert _interpolated(env["DATABASE_URL"]) == [variable]
        depends = service["depends_on"]
        assert depends["access"]["condition"] == "service_completed_successfully", name
    assert _interpolated(agent_services()["publish"]["environment"]["CHIMERA_SECRET_KEY"])


def test_no_secret_is_written_in_the_compose_file() -> None:
    secretish = re.compile(r"PASSWORD|SECRET|DATABASE_URL", re.IGNORECASE)
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key):
                assert _interpolated(str(value)), f"{name}: {key} is written in the file"


def test_the_access_service_sets_up_every_principal_after_the_migrations() -> None:
    from chimera.access import PRINCIPALS
    from chimera.access.setup import PrincipalPasswords

    access = compose()["services"]["access"]
    assert access["command"] == ["access", "apply"]
    assert "restart" not in access, "a one-shot job must not restart"
    assert access["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert access["depends_on"]["kafka"]["condition"] == "service_healthy"
    env = access["environment"]
    assert env["KAFKA_SASL_USERNAME"] == "chimera-admin"
    fields = env_names(PrincipalPasswords)
    for principal in PRINCIPALS:
        variable = f"CHIMERA_{principal.upper()}_PASSWORD"
        assert fields[variable] == f"{principal}_password"
        assert _interpolated(env[variable]) == [variable]
