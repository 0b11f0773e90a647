"""The `chimera` command line: clear messages for bad input, real effects for good input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chimera.cli import app
from core.credentials import process_env
from events import TrendDiscovered, decode, encode
from tests.conftest import Services
from tests.support import read_topic, trend

runner = CliRunner()


@pytest.fixture
def kafka_env(services: Services, topic_prefix: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in process_env(services.kafka_settings(topic_prefix=topic_prefix)).items():
        monkeypatch.setenv(name, value)
    return topic_prefix


def test_inject_reports_every_invalid_line_and_sends_nothing(
    kafka_env: str, services: Services, tmp_path: Path
) -> None:
    good = trend(1).model_dump_json()
    event = encode(TrendDiscovered.create(trend(2), producer="p")).decode()
    lines = [good, "# a comment", "", "{not json", event, '{"id": "x", "platform": "myspace"}']
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = runner.invoke(app, ["inject", str(source)])
    assert result.exit_code == 1
    assert "line 4: INVALID_JSON" in result.output
    assert "line 6: SCHEMA_VIOLATION" in result.output
    assert "nothing sent" in result.output
    assert "Traceback" not in result.output

    result = runner.invoke(app, ["inject", str(source), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "sent 2 event(s), skipped 2 invalid" in result.output
    records = asyncio.run(read_topic(services.kafka_settings(), f"{kafka_env}.trends", expect=2))
    events = [decode(r.value) for r in records]
    assert sorted(e.payload.id for e in events) == ["feed:item-1", "feed:item-2"]
    assert all(r.key == e.payload.id.encode() for r, e in zip(records, events, strict=True))
    assert {e.producer for e in events} == {"inject", "p"}  # bare trends are wrapped


def test_inject_reads_stdin_and_a_single_inline_event(kafka_env: str) -> None:
    result = runner.invoke(app, ["inject", "-"], input=trend(3).model_dump_json() + "\n")
    assert result.exit_code == 0 and "sent 1 event(s)" in result.output
    result = runner.invoke(app, ["inject", trend(4).model_dump_json()])
    assert result.exit_code == 0 and "sent 1 event(s)" in result.output
    result = runner.invoke(app, ["inject", "no-such-file.jsonl"])
    assert result.exit_code == 1 and "no such file" in result.output


def test_events_schema_writes_one_valid_schema_per_event(tmp_path: Path) -> None:
    from events import EVENTS

    result = runner.invoke(app, ["events", "schema", "--out", str(tmp_path)])
    assert result.exit_code == 0
    for name in EVENTS:
        schema = json.loads((tmp_path / f"{name}.schema.json").read_text())
        assert schema["title"] == name
        assert "payload" in schema["properties"]
        assert schema["additionalProperties"] is False


def test_skill_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # no database
    listed = runner.invoke(app, ["skill", "list"])
    assert listed.exit_code == 0
    for name in (
        "skill_fetch_trends",
        "skill_download_video",
        "skill_transcribe_audio",
        "skill_write_script",
        "skill_generate_video",
        "skill_publish_content",
    ):
        assert name in listed.output
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"trend": json.loads(trend(1).model_dump_json())}))
    ran = runner.invoke(app, ["skill", "run", "skill_write_script", f"@{data}"])
    assert ran.exit_code == 0, ran.output
    output = json.loads(ran.output)
    assert output["success"] is True and output["script"]["hook"]
    bad = runner.invoke(app, ["skill", "run", "skill_write_script", '{"trend": 5}'])
    assert bad.exit_code == 1 and json.loads(bad.output)["error"]["code"] == "INVALID_INPUT"
    assert runner.invoke(app, ["skill", "run", "nope"]).exit_code == 1


def test_bad_arguments_get_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["agent", "nobody"])
    assert result.exit_code == 1 and "no agent 'nobody'" in result.output
    result = runner.invoke(app, ["up", "--scale", "generate=lots"])
    assert result.exit_code == 1 and "--scale takes NAME=COUNT" in result.output
    monkeypatch.setenv("CHIMERA_TOPIC_PREFIX", "bad prefix!")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1 and "invalid settings" in result.output
    assert "Traceback" not in result.output


def test_stack_status_exits_non_zero_when_a_part_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = runner.invoke(app, ["stack", "status"])
    assert result.exit_code == 1
    assert "DOWN" in result.output and "127.0.0.1:1" in result.output


def test_version_and_help_speak_to_users() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("chimera ")
    helped = runner.invoke(app, ["--help"])
    assert helped.exit_code == 0
    assert "composition root" not in helped.output and "chimera migrate" in helped.output


@pytest.mark.parametrize(
    "command", [["status"], ["users", "list"], ["agent", "audit"], ["review", "list"], ["console"]]
)
def test_an_unmigrated_database_is_one_line_naming_migrate(
    command: list[str],
    services: Services,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncpg

    name = f"empty_{topic_prefix}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(services.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        monkeypatch.setenv("DATABASE_URL", services.admin_dsn.rsplit("/", 1)[0] + f"/{name}")
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.bootstrap_servers)
        monkeypatch.setenv("CHIMERA_TOPIC_PREFIX", topic_prefix)
        result = runner.invoke(app, command)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"error: database {services.admin_dsn.rsplit('/', 1)[0]}/{name} is not "
        "migrated: run `chimera migrate`"
    ], result.output
