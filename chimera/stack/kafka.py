"""A real Apache Kafka broker (KRaft, one combined broker+controller node) without Docker.

The jars come from Maven Central through `stack/kafka/pom.xml` and `mvn
dependency:copy-dependencies` into the git-ignored state folder; the broker runs on the
machine's Java 17. Storage is formatted on first start.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from chimera.stack import process
from core.errors import StackError
from core.settings import PROJECT_ROOT, Settings

POM = PROJECT_ROOT / "stack" / "kafka" / "pom.xml"

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.org.name = org.apache.kafka
logger.org.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class KafkaStatus:
    running: bool
    pid: int | None
    bootstrap: str
    version: str
    data_dir: Path
    log_file: Path


class LocalKafka:
    """The local broker's files, process and health, all under `<state>/kafka`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "kafka"
        self.lib = self.home / "lib"
        self.data_dir = settings.kafka_data_dir or self.home / "data"
        self.log_file = settings.kafka_log_file or self.home / "server.log"
        self.config = self.home / "server.properties"
        self.pid_file = self.home / "kafka.pid"
        self.port = settings.kafka_port
        self.controller_port = settings.kafka_controller_port or settings.kafka_port + 1
        self.bootstrap = f"127.0.0.1:{self.port}"

    # --- classpath -----------------------------------------------------------------------
    @staticmethod
    def version() -> str:
        text = POM.read_text()
        start = text.index("<kafka.version>") + len("<kafka.version>")
        return text[start : text.index("</kafka.version>", start)]

    def ensure_classpath(self) -> bool:
        """Fetch the broker's jars unless the cache matches the pom. True when it fetched."""
        return fetch_classpath(POM, self.lib, "the Kafka broker")

    # --- configuration and storage ----------------------------------------------------------
    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{self.lib}/*",
            main,
            *args,
        ]

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(_LOG4J2.format(log_file=self.log_file))
        self.config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    f"num.partitions={self.settings.topic_partitions}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "delete.topic.enable=true",
                    "",
                ]
            )
        )

    def ensure_storage(self) -> bool:
        """Format the KRaft storage on first start. True when it formatted."""
        if (self.data_dir / "meta.properties").exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: not an option's look
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config)
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
        return True

    # --- lifecycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        pid = process.read_pid(self.pid_file)
        return pid if process.is_ours(pid, str(self.config)) else None

    def status(self) -> KafkaStatus:
        pid = self.pid()
        running = pid is not None and probe_metadata(self.bootstrap, timeout=5.0)
        return KafkaStatus(
            running, pid, self.bootstrap, self.version(), self.data_dir, self.log_file
        )

    def up(self, timeout: float = 120.0) -> bool:
        """Start the broker unless ours already runs. True when it started one."""
        if self.pid() is not None:
            if not probe_metadata(self.bootstrap, timeout=timeout):
                raise StackError(
                    f"our Kafka (pid {self.pid()}) runs but does not answer; see {self.log_file}"
                )
            return False
        if process.port_open("127.0.0.1", self.port):
            raise StackError(
                f"port {self.port} is taken by another process; set "
                "CHIMERA_KAFKA_PORT or KAFKA_BOOTSTRAP_SERVERS"
            )
        self.ensure_classpath()
        self.write_config()
        self.ensure_storage()
        argv = self._java("kafka.Kafka", str(self.config), heap=self.settings.kafka_heap)
        argv[1:1] = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:TieredStopAtLevel=1"]
        broker = process.spawn(argv, self.home / "stdout.log")
        pid = broker.pid
        self.pid_file.write_text(str(pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if broker.poll() is not None:
                raise StackError(
                    "Kafka exited during start-up:\n"
                    + process.tail(self.home / "stdout.log")
                    + "\n"
                    + process.tail(self.log_file)
                )
            if probe_metadata(self.bootstrap, timeout=2.0):
                return True
            time.sleep(0.3)
        process.terminate(pid, str(self.config))
        raise StackError(
            f"Kafka did not answer a metadata request within {timeout:.0f}s; see {self.log_file}"
        )

    def down(self) -> bool:
        """Stop our broker if it runs. True when it stopped one."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        process.terminate(pid, str(self.config), timeout=30.0)
        self.pid_file.unlink(missing_ok=True)
        return True


def fetch_classpath(pom: Path, lib: Path, what: str) -> bool:
    """`mvn dependency:copy-dependencies` of `pom` into `lib`, unless `lib` was filled from
    this very pom (its digest is kept beside the jars). True when it fetched."""
    marker = lib / ".pom-sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return False
    if shutil.which("mvn") is None:
        raise StackError(f"Maven (mvn) is needed to fetch {what}: run `make setup`")
    if shutil.which("java") is None:
        raise StackError(f"Java 17+ is needed to run {what}: run `make setup`")
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
            "dependency:copy-dependencies",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"mvn could not fetch {what}:\n{result.stdout[-2000:]}")
    marker.write_text(digest)
    return True


def probe_metadata(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when a broker at `bootstrap` answers a metadata request."""
    from aiokafka.client import AIOKafkaClient

    async def ask() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
            return bool(metadata.brokers())
        except Exception:
            return False
        finally:
            await client.close()

    if not process.port_open(*_host_port(bootstrap)):
        return False
    return asyncio.run(ask())


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
