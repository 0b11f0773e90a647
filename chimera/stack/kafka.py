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
from core import credentials
from core.credentials import ADMIN, MECHANISM, kafka_user
from core.errors import StackError
from core.kafka import client_options
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


#: Brokers formatted with SCRAM users carry this file (older, PLAINTEXT ones do not).
SECURED_MARKER = ".sasl-scram"


class LocalKafka:
    """The local broker's files, process and health, all under `<state>/kafka`.

    Secured by default: one SASL_PLAINTEXT listener (SCRAM-SHA-512) for clients, the KRaft
    StandardAuthorizer with no access unless an ACL grants it, and `chimera-admin` as the only
    super user. Every principal's SCRAM credentials are created when the storage is formatted
    (`--add-scram`, KIP-900), from the credentials file (`core.credentials`, created here when
    missing). The controller listener is SASL/PLAIN with a user of its own (static, in the
    owner-only server.properties). `secure=False` gives the old PLAINTEXT broker.
    """

    def __init__(
        self, settings: Settings, *, secure: bool = True, principals: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.secure = secure
        self.principals = principals
        self.home = settings.state_dir / "kafka"
        self.lib = self.home / "lib"
        self.data_dir = settings.kafka_data_dir or self.home / "data"
        self.log_file = settings.kafka_log_file or self.home / "server.log"
        self.config = self.home / "server.properties"
        self.pid_file = self.home / "kafka.pid"
        self.port = settings.kafka_port
        self.controller_port = settings.kafka_controller_port or settings.kafka_port + 1
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.credentials_file = settings.credentials_path or settings.state_dir / "credentials.json"

    # --- credentials ---------------------------------------------------------------------
    def credentials(self) -> credentials.Credentials:
        """Every principal's passwords (created on first use, 0600), the admin included."""
        names = self.principals
        if names is None:
            from chimera.access import PRINCIPALS

            names = list(PRINCIPALS)
        return credentials.ensure(self.credentials_file, [ADMIN, *names])

    def admin_settings(self) -> Settings:
        """Settings that reach this broker as its super user."""
        base = self.settings.model_copy(
            update={
                "kafka_bootstrap_servers": self.bootstrap,
                "credentials_file": self.credentials_file,
                "kafka_security_protocol": "SASL_PLAINTEXT" if self.secure else "PLAINTEXT",
            }
        )
        if not self.secure:
            return base
        self.credentials()
        return credentials.as_principal(base, ADMIN)

    def _probe(self, timeout: float) -> bool:
        return probe_metadata(
            self.bootstrap, timeout, options=client_options(self.admin_settings())
        )

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

    def _listener_lines(self) -> list[str]:
        if not self.secure:
            return [
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ]
        creds = self.credentials()
        admin = creds.principals[ADMIN].kafka_password.get_secret_value()
        # The controller's own static PLAIN user (not an agent; derived from the admin secret).
        controller = hashlib.sha256(f"controller:{admin}".encode()).hexdigest()[:32]
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        return [
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config={scram} required "
            f'username="{kafka_user(ADMIN)}" password="{admin}";',
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain} required "
            f'username="chimera-controller" password="{controller}" '
            f'user_chimera-controller="{controller}";',
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{kafka_user(ADMIN)};User:chimera-controller",
            "allow.everyone.if.no.acl.found=false",
        ]

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(_LOG4J2.format(log_file=self.log_file))
        credentials.write_private(
            self.config,
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    *self._listener_lines(),
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
            ),
        )

    def ensure_storage(self) -> bool:
        """Format the KRaft storage on first start. True when it formatted."""
        marker = self.data_dir / SECURED_MARKER
        if (self.data_dir / "meta.properties").exists():
            if self.secure and not marker.exists():
                raise StackError(
                    f"the Kafka data in {self.data_dir} was formatted without SASL users; "
                    "stop the stack and delete that folder to start a secured broker"
                )
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: not an option's look
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        scram: list[str] = []
        if self.secure:
            for name, secret in self.credentials().principals.items():
                password = secret.kafka_password.get_secret_value()
                scram += [
                    "--add-scram",
                    f"{MECHANISM}=[name={kafka_user(name)},password={password}]",
                ]
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config),
                *scram,
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
        if self.secure:
            marker.write_text(MECHANISM)
        return True

    # --- lifecycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        pid = process.read_pid(self.pid_file)
        return pid if process.is_ours(pid, str(self.config)) else None

    def status(self) -> KafkaStatus:
        pid = self.pid()
        running = pid is not None and self._probe(timeout=5.0)
        return KafkaStatus(
            running, pid, self.bootstrap, self.version(), self.data_dir, self.log_file
        )

    def up(self, timeout: float = 120.0) -> bool:
        """Start the broker unless ours already runs. True when it started one."""
        if self.pid() is not None:
            deadline = time.monotonic() + timeout
            while not self._probe(timeout=5.0) and time.monotonic() < deadline:
                time.sleep(1.0)  # busy (a test session just ended, say): ask again
            if not self._probe(timeout=5.0):
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
            if self._probe(timeout=2.0):
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


def probe_metadata(
    bootstrap: str, timeout: float = 5.0, *, options: dict[str, object] | None = None
) -> bool:
    """True when a broker at `bootstrap` answers a metadata request (with `options`, the
    client's connection and security options, e.g. `core.kafka.client_options`)."""
    from aiokafka.client import AIOKafkaClient

    async def ask() -> bool:
        client = AIOKafkaClient(
            **{**(options or {}), "bootstrap_servers": bootstrap},
            request_timeout_ms=int(timeout * 1000),
        )
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
