"""Apache Kafka's own command-line tools, as operators run them, without a Kafka download.

`org.apache.kafka:kafka-tools` (ConsoleProducer, ConsumerGroupCommand behind
`kafka-consumer-groups`, AclCommand, ...) and its classpath come from Maven Central through
`stack/kafka/tools-pom.xml` into `<state>/kafka/tools` (git-ignored), fetched once per pom
(`chimera stack up` does it with the broker); they run on the machine's Java 17.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from chimera.stack.kafka import fetch_classpath
from core.errors import StackError
from core.settings import PROJECT_ROOT, Settings

POM = PROJECT_ROOT / "stack" / "kafka" / "tools-pom.xml"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


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
        bootstrap: str,
        topic: str,
        lines: Sequence[str],
        properties: dict[str, str] | None = None,
    ) -> None:
        """`kafka-console-producer --bootstrap-server B --topic T --property k=v ...` fed
        `lines` on stdin (one record a line; keys and headers when the properties say so)."""
        props = [arg for k, v in (properties or {}).items() for arg in ("--property", f"{k}={v}")]
        self.run(
            CONSOLE_PRODUCER,
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            *props,
            stdin="".join(f"{line}\n" for line in lines),
        )

    def reset_to_earliest(self, bootstrap: str, groups: Sequence[str]) -> str:
        """`kafka-consumer-groups --reset-offsets --to-earliest --all-topics --execute` for
        `groups` (they must be inactive); returns the tool's table of new offsets."""
        return self.run(
            CONSUMER_GROUPS,
            "--bootstrap-server",
            bootstrap,
            *(arg for group in groups for arg in ("--group", group)),
            "--reset-offsets",
            "--to-earliest",
            "--all-topics",
            "--execute",
        ).stdout
