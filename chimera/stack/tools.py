"""Apache Kafka's own command-line tools, as operators run them, without a Kafka download.

`org.apache.kafka:kafka-tools` (ConsoleProducer, ConsumerGroupCommand behind
`kafka-consumer-groups`, AclCommand, ...) and its classpath come from Maven Central through
`stack/kafka/tools-pom.xml` into `<state>/kafka/tools` (git-ignored), fetched once per pom
(`chimera stack up` does it with the broker); they run on the machine's Java 17.

They connect as the given settings do: on a secured broker with that principal's SASL/SCRAM
user, through a client properties file (owner-only, removed after the run) passed as
`--producer.config` / `--command-config`, as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from chimera.stack.kafka import fetch_classpath
from core.errors import StackError
from core.settings import PROJECT_ROOT, Settings

POM = PROJECT_ROOT / "stack" / "kafka" / "tools-pom.xml"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def client_properties(settings: Settings) -> dict[str, str]:
    """The Java client's connection properties for `settings` (security protocol and SASL)."""
    protocol = settings.security_protocol
    if protocol in ("SSL", "SASL_SSL"):
        raise StackError("Kafka's tools are run here over PLAINTEXT or SASL_PLAINTEXT only")
    props: dict[str, str] = {"security.protocol": protocol}
    if protocol.startswith("SASL"):
        mechanism = settings.kafka_sasl_mechanism or "PLAIN"
        user = settings.kafka_sasl_username or ""
        password = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        )

        def quoted(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        props["sasl.mechanism"] = mechanism
        props["sasl.jaas.config"] = (
            f"{JAAS_MODULES[mechanism]} required username={quoted(user)} "
            f"password={quoted(password)};"
        )
    return props


@contextlib.contextmanager
def client_config(settings: Settings) -> Iterator[Path]:
    """`client_properties` in an owner-only temporary file, removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="chimera-kafka-client-", suffix=".properties")
    path = Path(name)
    try:
        with os.fdopen(fd, "w") as out:
            for key, value in client_properties(settings).items():
                out.write(f"{key}={value}\n")
        yield path
    finally:
        path.unlink(missing_ok=True)


class KafkaTools:
    """The tools' jars under `<state>/kafka/tools`, and running one of them."""

    def __init__(self, settings: Settings) -> None:
        self.lib = settings.state_dir / "kafka" / "tools"

    def ensure(self) -> bool:
        """Fetch the jars unless they match the pom. True when it fetched."""
        return fetch_classpath(POM, self.lib, "Kafka's command-line tools")

    def command(self, main: str, *args: str) -> list[str]:
        return ["java", "-Xmx256m", "-Djava.awt.headless=true", "-cp", f"{self.lib}/*", main, *args]

    def run(
        self, main: str, *args: str, stdin: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a tool to its end; StackError with its output when it fails."""
        self.ensure()
        result = subprocess.run(
            self.command(main, *args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"{main.rsplit('.', 1)[-1]} exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        return result

    def console_produce(
        self,
        settings: Settings,
        topic: str,
        lines: Sequence[str],
        properties: dict[str, str] | None = None,
    ) -> None:
        """`kafka-console-producer --bootstrap-server B --topic T --property k=v ...` fed
        `lines` on stdin (one record a line; keys and headers when the properties say so),
        connected as `settings` are."""
        props = [arg for k, v in (properties or {}).items() for arg in ("--property", f"{k}={v}")]
        with client_config(settings) as config:
            self.run(
                CONSOLE_PRODUCER,
                "--bootstrap-server",
                settings.bootstrap_servers,
                "--producer.config",
                str(config),
                "--topic",
                topic,
                *props,
                stdin="".join(f"{line}\n" for line in lines),
            )

    def reset_to_earliest(self, settings: Settings, groups: Sequence[str]) -> str:
        """`kafka-consumer-groups --reset-offsets --to-earliest --all-topics --execute` for
        `groups` (they must be inactive), connected as `settings` are; returns the tool's table
        of new offsets."""
        with client_config(settings) as config:
            return self.run(
                CONSUMER_GROUPS,
                "--bootstrap-server",
                settings.bootstrap_servers,
                "--command-config",
                str(config),
                *(arg for group in groups for arg in ("--group", group)),
                "--reset-offsets",
                "--to-earliest",
                "--all-topics",
                "--execute",
            ).stdout
