"""Real Apache Kafka as plain JVM processes: one combined node, or a three-node KRaft quorum on loopback.

No Docker and no tarball: Kafka's own jars come from Maven Central through ``kafka/pom.xml`` (fetched once
into a cache, see :func:`kafka_libs`) and each node runs as ``java kafka.Kafka node.properties``. This is the
engine production runs, so it proves what the embedded broker cannot: idempotent and transactional
producers, replication, changelog recovery with its consistency check, broker failover.

Every node is both broker and controller. A cluster of three has replication factor 3 and
``min.insync.replicas=2`` by default, so it keeps accepting ``acks=all`` writes with one node down.

Secured (the default), clients authenticate with SASL/SCRAM-SHA-512 and the brokers' authorizer allows only
what ``clickpipe.kafka_acls`` grants: the users' passwords are made at format time, bootstrapped into the
cluster's metadata (``--add-scram``) and kept in ``credentials.json`` (0600) beside the nodes; the ACLs are
added on the first start (``clickpipe.kafka_acls.grant``). The controllers' listener (loopback, brokers only)
takes SASL/PLAIN as the admin user: KRaft does not take SCRAM there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from clickpipe.broker import free_port, port_answers
from clickpipe.errors import BrokerStartError, KafkaSetupError
from clickpipe.kafka_acls import ADMIN, USERS, grant, pipeline_grants
from clickpipe.process import die_with_parent
from schemas.broker_auth import BrokerAuth

log = logging.getLogger(__name__)

_NODES_FILE = "nodes.json"  # the nodes' ids and ports, so a kept data dir comes back on the same ones
CREDENTIALS_FILE = "credentials.json"  # each user's password, for a secured cluster (0600)
_ACLS_FILE = "acls.done"  # written once the ACLs are added (they live in the cluster's metadata after)
_SCRAM = "SCRAM-SHA-512"
REPO_POM = Path(__file__).resolve().parents[1] / "kafka" / "pom.xml"
JVM_OPTIONS = (
    "-Xms128m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
"""


def kafka_uuid() -> str:
    """A Kafka ``Uuid`` string (cluster and directory ids): URL-safe base64 of 16 random bytes, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka's own generator avoids these: they read as options
            return text


def kafka_libs(pom: Path | None = None, *, fetch: bool = True) -> Path:
    """Return the directory holding Kafka's jars, fetching them with Maven the first time.

    ``CLICKPIPE_KAFKA_LIBS`` names a ready directory of jars. Otherwise the jars of ``kafka/pom.xml`` are
    copied once into ``~/.cache/clickpipe/kafka-<pom hash>/libs`` (``XDG_CACHE_HOME`` is honoured); Maven's
    own repository (``~/.m2``) caches the downloads too.

    Raises:
        KafkaSetupError: the jars are missing and cannot be fetched (no pom, no Maven, Maven failed).
    """
    given = os.environ.get("CLICKPIPE_KAFKA_LIBS")
    if given:
        libs = Path(given)
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise KafkaSetupError(f"CLICKPIPE_KAFKA_LIBS={libs} holds no kafka_2.13 jar")
        return libs
    pom = pom or REPO_POM
    if not pom.is_file():
        raise KafkaSetupError(
            f"Kafka's Maven project {pom} is not here (installed without the repository?): "
            "set CLICKPIPE_KAFKA_LIBS to a directory with Kafka's jars"
        )
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clickpipe" / f"kafka-{digest}"
    libs, stamp = cache / "libs", cache / "complete"
    if stamp.is_file():
        return libs
    if not fetch:
        raise KafkaSetupError(
            f"Kafka's jars are not fetched yet: run `mvn -f {pom} dependency:copy-dependencies`"
        )
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError(
            "Apache Kafka's jars are fetched with Maven, which is not installed: "
            "apt-get install maven (or set CLICKPIPE_KAFKA_LIBS to a directory with Kafka's jars)"
        )
    log.warning("fetching Apache Kafka's jars with Maven into %s (once) ...", libs)
    shutil.rmtree(libs, ignore_errors=True)
    command = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise KafkaSetupError(
            f"Maven could not fetch Kafka's jars ({' '.join(command)}):\n{result.stdout[-3000:]}"
        )
    stamp.write_text(digest)
    return libs


def java_binary() -> str:
    """Return the ``java`` to run Kafka with (``JAVA_HOME`` first).

    Raises:
        KafkaSetupError: no Java is installed.
    """
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise KafkaSetupError(
            "Apache Kafka needs Java 17 or newer, and no `java` is on PATH: "
            "apt-get install openjdk-17-jre-headless (or set JAVA_HOME)"
        )
    return found


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One node's identity: its id, its ports on loopback and where it keeps its log."""

    node_id: int
    host: str
    port: int
    controller_port: int
    directory: Path

    @property
    def address(self) -> str:
        """The broker's ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def controller(self) -> str:
        """The controller's ``host:port``."""
        return f"{self.host}:{self.controller_port}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A node's TLS identity: a PKCS12 keystore with its key and certificate, and the CA clients trust."""

    keystore: Path
    password: str
    ca: Path  # PEM: the (self-signed) certificate itself


def node_properties(
    node: KafkaNode, nodes: list[KafkaNode], admin_password: str | None = None, tls: TlsFiles | None = None
) -> str:
    """The ``server.properties`` of ``node`` in a quorum of ``nodes`` (all of them combined nodes).

    With ``admin_password`` the node is secured: SASL/SCRAM on the client listener (the brokers talk to each
    other on it as ``admin``), SASL/PLAIN on the controllers' one, and an authorizer that refuses whatever no
    ACL allows; ``admin`` is the super user. With ``tls`` too, the client listener is SASL over TLS
    (``SASL_SSL``), the brokers' own connections included; the controllers' stays on loopback without it.
    """
    cluster = len(nodes) > 1
    replicas, min_isr = (3, 2) if cluster else (1, 1)
    replicas = min(replicas, len(nodes))
    secured = admin_password is not None
    controller = "SASL_PLAINTEXT" if secured else "PLAINTEXT"
    client = "SASL_SSL" if secured and tls is not None else controller
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        "controller.quorum.bootstrap.servers=" + ",".join(n.controller for n in nodes),
        f"listeners={client}://{node.address},CONTROLLER://{node.controller}",
        f"advertised.listeners={client}://{node.address},CONTROLLER://{node.controller}",
        f"inter.broker.listener.name={client}",
        "controller.listener.names=CONTROLLER",
        f"listener.security.protocol.map={client}:{client},CONTROLLER:{controller}",
        f"log.dirs={node.directory / 'data'}",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=3",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "log.cleaner.dedupe.buffer.size=2097152",  # the default takes 128 MB of heap at start-up
        "server.max.startup.time.ms=60000",  # the default waits for a quorum forever
        "num.network.threads=2",
        "num.io.threads=2",
        "auto.create.topics.enable=false",  # clickpipe creates its topics with their partition counts
    ]
    if secured:
        scram = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" '
        plain = f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{ADMIN}" '
        lines += [
            f"sasl.enabled.mechanisms={_SCRAM}",
            f"sasl.mechanism.inter.broker.protocol={_SCRAM}",
            f'listener.name.{client.lower()}.scram-sha-512.sasl.jaas.config={scram}password="{admin_password}";',
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f'listener.name.controller.plain.sasl.jaas.config={plain}password="{admin_password}" '
            f'user_{ADMIN}="{admin_password}";',
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{ADMIN}",
            "allow.everyone.if.no.acl.found=false",
        ]
    if client == "SASL_SSL" and tls is not None:
        lines += [
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={tls.keystore}",
            f"ssl.keystore.password={tls.password}",
            f"ssl.key.password={tls.password}",
            "ssl.truststore.type=PEM",  # the brokers trust one another's (one) certificate
            f"ssl.truststore.location={tls.ca}",
        ]
    return "\n".join(lines) + "\n"


class KafkaCluster:
    """Apache Kafka nodes as child processes; a context manager that always stops them.

    Args:
        nodes: 1 (one combined node) or 3 (a KRaft quorum, replication factor 3, min.insync.replicas 2).
        host: the loopback address every node listens on and advertises.
        port: the first node's broker port (0 picks free ports; only for ``nodes=1``).
        data_dir: where nodes keep their logs; kept when given (a formatted directory is reused, so a
            single node keeps its topics across runs), a temporary one removed on stop otherwise.
        start_timeout: seconds for every node to accept connections.
        secured: SASL/SCRAM and ACLs (see the module's doc); False: PLAINTEXT, anyone may do anything.
        passwords: each user's password for a new secured cluster (default: random ones).
        tls: with ``secured``, the client listener takes SASL over TLS (``SASL_SSL``), with a self-signed
            certificate for the host made with the JDK's keytool (``tls/`` in the data dir; ``auth`` gives
            clients its CA file).
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        start_timeout: float = 90.0,
        secured: bool = True,
        passwords: dict[str, str] | None = None,
        tls: bool = False,
    ) -> None:
        if nodes not in (1, 3):
            raise ValueError("a Kafka cluster here has 1 or 3 nodes")
        if port and nodes != 1:
            raise ValueError("a fixed port is for a single node")
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="clickpipe-kafka-"))
        self._start_timeout = start_timeout
        self.secured = secured
        self._passwords: dict[str, str] = {}
        self._given_passwords = passwords
        if tls and not secured:
            raise ValueError("TLS here comes with authentication: secured=True")
        self.tls = tls
        self.nodes = self._kept_nodes(host, nodes, port) or [
            KafkaNode(n, host, port or free_port(host), free_port(host), self.data_dir / f"node-{n}")
            for n in range(1, nodes + 1)
        ]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, IO[bytes]] = {}
        self._java: str | None = None
        self._libs: Path | None = None

    full_kafka = True  # every guarantee: idempotence, transactions, true end offsets

    @property
    def bootstrap_servers(self) -> str:
        """Every node's ``host:port``, comma-separated."""
        return ",".join(node.address for node in self.nodes)

    @property
    def kind(self) -> str:
        """What it is, for banners."""
        return "Apache Kafka, one node" if len(self.nodes) == 1 else f"Apache Kafka, {len(self.nodes)} nodes"

    @property
    def credentials_path(self) -> Path:
        """The file with each user's password (secured clusters; made when the nodes are formatted)."""
        return self.data_dir / CREDENTIALS_FILE

    def client_settings(self, user: str) -> Path:
        """A file of ``user``'s ``CLICKPIPE_KAFKA_*`` settings (0600): ``set -a; . FILE; set +a`` in a shell
        gives a clickpipe command that user's login (secured clusters, once formatted)."""
        return self.data_dir / "clients" / f"{user}.env"

    def auth(self, user: str = ADMIN) -> BrokerAuth:
        """How ``user`` (``admin``, ``producer`` or ``worker``) connects: PLAINTEXT when not secured.

        Raises:
            KafkaSetupError: the cluster is secured and has not been formatted yet (no passwords).
        """
        if not self.secured:
            return BrokerAuth(security_protocol="PLAINTEXT")
        passwords = self._passwords or _read_credentials(self.credentials_path)
        if user not in passwords:
            raise KafkaSetupError(f"no password for Kafka user {user!r} in {self.credentials_path}")
        return BrokerAuth.scram(user, passwords[user], ca_file=self._tls_dir / "ca.pem" if self.tls else None)

    @property
    def _tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def running(self) -> bool:
        """True while every node's process runs."""
        return bool(self._processes) and all(self.alive(node.node_id) for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        """The node with this id (1-based)."""
        return self.nodes[node_id - 1]

    def alive(self, node_id: int) -> bool:
        """True while that node's process runs."""
        process = self._processes.get(node_id)
        return process is not None and process.poll() is None

    def log_path(self, node_id: int) -> Path:
        """The file a node's output goes to."""
        return self.node(node_id).directory / "kafka.log"

    def start(self) -> Self:
        """Format the nodes (unless already formatted), start them all and wait until each answers.

        Raises:
            KafkaSetupError: Java or the jars are missing.
            BrokerStartError: a port is taken, a node exited or did not answer in time.
        """
        try:  # whatever fails, nothing is left behind: no process, no temporary directory
            self._java, self._libs = java_binary(), kafka_libs()
            for node in self.nodes:
                if port_answers(node.host, node.port):
                    raise BrokerStartError(f"port {node.address} is already in use")
            self._format()
            for node in self.nodes:
                self._spawn(node)
            self.wait_ready([node.node_id for node in self.nodes])
            if self.secured and not (self.data_dir / _ACLS_FILE).is_file():
                self._grant()
        except BaseException:
            self.stop()
            raise
        log.info("Apache Kafka (%d node(s)) listening on %s", len(self.nodes), self.bootstrap_servers)
        return self

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: a crash, with no controlled shutdown."""
        process = self._processes.pop(node_id, None)
        if process is not None:
            process.kill()
            process.wait()
        self._close_log(node_id)

    def terminate(self, node_id: int, timeout: float = 60.0) -> None:
        """Stop one node with a controlled shutdown (SIGTERM), SIGKILL after ``timeout`` seconds."""
        process = self._processes.pop(node_id, None)
        if process is not None:
            _stop_processes([process], timeout)
        self._close_log(node_id)

    def restart(self, node_id: int) -> None:
        """Start a stopped node again on its ports and data, and wait until it answers."""
        self.start_node(node_id)
        self.wait_ready([node_id])

    def start_node(self, node_id: int) -> None:
        """Start a stopped node again on its ports and data, without waiting (see ``wait_ready``)."""
        if self.alive(node_id):
            raise ValueError(f"node {node_id} is running")
        self._spawn(self.node(node_id))

    def wait_ready(self, node_ids: list[int]) -> None:
        """Wait until each node's broker port accepts connections (Kafka opens it once the broker is up).

        Raises:
            BrokerStartError: a node exited or did not answer within the start timeout.
        """
        deadline = time.monotonic() + self._start_timeout
        waiting = list(node_ids)
        while waiting:
            node_id = waiting[0]
            node, process = self.node(node_id), self._processes[node_id]
            if port_answers(node.host, node.port):
                waiting.pop(0)
                continue
            if process.poll() is not None:
                raise BrokerStartError(
                    f"Kafka node {node_id} exited with code {process.returncode} on start; "
                    f"its log ({self.log_path(node_id)}) ends with:\n{_tail(self.log_path(node_id))}"
                )
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"Kafka node {node_id} did not answer on {node.address} "
                    f"within {self._start_timeout:.0f}s; its log ends with:\n{_tail(self.log_path(node_id))}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every node (SIGTERM, SIGKILL after ``timeout``); remove a temporary data dir. Idempotent."""
        processes = list(self._processes.values())
        self._processes.clear()
        _stop_processes(processes, timeout)
        for node_id in list(self._logs):
            self._close_log(node_id)
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def wait(self) -> int:
        """Block until any node exits; return its exit code."""
        while True:
            for process in self._processes.values():
                if process.poll() is not None:
                    return process.returncode
            if not self._processes:
                return 0
            time.sleep(0.2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _kept_nodes(self, host: str, count: int, port: int) -> list[KafkaNode] | None:
        """The nodes of a data dir formatted before, on their old ports: the quorum keeps its voters'
        addresses in its log, so a node must come back where it was."""
        try:
            kept = json.loads((self.data_dir / _NODES_FILE).read_text())
        except (OSError, ValueError):
            return None
        if len(kept) != count or any(entry["host"] != host for entry in kept):
            raise KafkaSetupError(f"{self.data_dir} holds a different Kafka cluster: {kept}")
        if self.secured and not all(entry.get("secured") for entry in kept):
            raise KafkaSetupError(
                f"the Kafka data in {self.data_dir} was made without authentication (by an older clickpipe); "
                "remove that directory to start a secured broker in it"
            )
        if port and kept[0]["port"] != port:
            raise KafkaSetupError(
                f"the Kafka node in {self.data_dir} listens on {kept[0]['port']}, not {port}"
            )
        return [
            KafkaNode(
                e["node_id"], host, e["port"], e["controller_port"], self.data_dir / f"node-{e['node_id']}"
            )
            for e in kept
        ]

    def _command(self, main: str, *args: str) -> list[str]:
        assert self._java is not None and self._libs is not None  # noqa: S101 - set by start()
        log4j = self.data_dir / "log4j2.properties"
        return [
            self._java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self._libs}/*",  # one argument: Java expands the wildcard
            main,
            *args,
        ]

    def _format(self) -> None:
        """Write each node's configuration and format its storage, all nodes at once."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2)
        scram: list[str] = []
        if self.secured:
            self._passwords = _credentials(self.credentials_path, self._given_passwords)
            (self.data_dir / "clients").mkdir(mode=0o700, exist_ok=True)
            for user, password in self._passwords.items():
                scram += ["--add-scram", f"{_SCRAM}=[name={user},password={password}]"]
                settings = self.auth(user).environment()
                _write_private(self.client_settings(user), "".join(f"{k}={v}\n" for k, v in settings.items()))
        admin_password = self._passwords.get(ADMIN)
        tls = self._certificate() if self.tls else None
        directory_ids = {node.node_id: kafka_uuid() for node in self.nodes}
        voters = ",".join(f"{n.node_id}@{n.controller}:{directory_ids[n.node_id]}" for n in self.nodes)
        cluster_id = kafka_uuid()
        formatting: list[tuple[KafkaNode, subprocess.Popen[str]]] = []
        for node in self.nodes:
            node.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            config = node.directory / "server.properties"
            _write_private(config, node_properties(node, self.nodes, admin_password, tls))
            if (node.directory / "data" / "meta.properties").is_file():
                continue  # formatted on an earlier run: keep its data
            quorum = ["--standalone"] if len(self.nodes) == 1 else ["--initial-controllers", voters]
            args = ["format", "-t", cluster_id, "-c", str(config), *quorum, *scram]
            formatting.append(
                (
                    node,
                    subprocess.Popen(  # noqa: S603 - our own java command
                        self._command("kafka.tools.StorageTool", *args),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    ),
                )
            )
        for node, process in formatting:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise BrokerStartError(f"formatting Kafka node {node.node_id} failed:\n{output[-3000:]}")
        kept = [
            {
                "node_id": n.node_id,
                "host": n.host,
                "port": n.port,
                "controller_port": n.controller_port,
                "secured": self.secured,
            }
            for n in self.nodes
        ]
        (self.data_dir / _NODES_FILE).write_text(json.dumps(kept))

    def _certificate(self) -> TlsFiles:
        """The nodes' keystore and the CA file clients trust: made once with keytool (kept after)."""
        directory = self._tls_dir
        keystore, ca, secret = directory / "keystore.p12", directory / "ca.pem", directory / "password"
        if keystore.is_file() and ca.is_file() and secret.is_file():
            return TlsFiles(keystore, secret.read_text().strip(), ca)
        assert self._java is not None  # noqa: S101 - set by start()
        keytool = str(Path(self._java).with_name("keytool"))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        _write_private(secret, password + "\n")
        keystore.unlink(missing_ok=True)
        hosts = sorted({node.host for node in self.nodes})
        names = ",".join(f"ip:{host}" if host.replace(".", "").isdigit() else f"dns:{host}" for host in hosts)
        for args in (
            ["-genkeypair", "-alias", "kafka", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "825",
             "-dname", "CN=clickpipe-kafka", "-ext", f"SAN={names}", "-ext", "BC:c=ca:true",
             "-keystore", str(keystore), "-storetype", "PKCS12",
             "-storepass", password, "-keypass", password],
            ["-exportcert", "-rfc", "-alias", "kafka", "-keystore", str(keystore), "-storepass", password,
             "-file", str(ca)],
        ):  # fmt: skip
            done = subprocess.run([keytool, *args], capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise KafkaSetupError(f"keytool could not make the nodes' certificate: {done.stderr[-2000:]}")
        keystore.chmod(0o600)
        return TlsFiles(keystore, password, ca)

    def _grant(self) -> None:
        """Add the pipeline's ACLs as ``admin`` (on a thread of its own: a caller's event loop may run)."""
        failure: list[BaseException] = []

        def add() -> None:
            try:
                added = asyncio.run(grant(self.bootstrap_servers, self.auth(ADMIN), pipeline_grants()))
                log.info("Kafka ACLs added: %d bindings", added)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
                failure.append(exc)

        thread = threading.Thread(target=add, name="kafka-acls")
        thread.start()
        thread.join()
        if failure:
            raise BrokerStartError(f"adding the Kafka ACLs failed: {failure[0]!r}") from failure[0]
        (self.data_dir / _ACLS_FILE).write_text("added\n")

    def _spawn(self, node: KafkaNode) -> None:
        if threading.current_thread() is not threading.main_thread():
            # PR_SET_PDEATHSIG follows the thread that forked: a node started from a worker thread would be
            # SIGTERMed when that thread ends (an executor's thread, say), long before this process does.
            raise RuntimeError("start Kafka nodes from the main thread (then wait_ready may run anywhere)")
        self._close_log(node.node_id)
        self._logs[node.node_id] = out = self.log_path(node.node_id).open("ab")
        self._processes[node.node_id] = subprocess.Popen(  # noqa: S603 - our own java command
            self._command("kafka.Kafka", str(node.directory / "server.properties")),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches the command that owns it, not Kafka
            preexec_fn=die_with_parent,
        )

    def _close_log(self, node_id: int) -> None:
        out = self._logs.pop(node_id, None)
        if out is not None:
            out.close()


def _credentials(path: Path, given: dict[str, str] | None = None) -> dict[str, str]:
    """Each user's password: those kept in ``path``, else ``given`` or random ones, written there (0600)."""
    if path.is_file():
        return _read_credentials(path)
    passwords = {user: (given or {}).get(user) or secrets.token_urlsafe(24) for user in USERS}
    _write_private(path, json.dumps(passwords, indent=1) + "\n")
    return passwords


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        passwords = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KafkaSetupError(f"cannot read the Kafka users' passwords in {path}: {exc}") from exc
    if not isinstance(passwords, dict) or set(passwords) != set(USERS):
        raise KafkaSetupError(f"{path} does not hold the passwords of {', '.join(USERS)}")
    return {str(user): str(password) for user, password in passwords.items()}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only (it may hold passwords)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    path.chmod(0o600)


def _stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM them all at once, then SIGKILL whatever still runs after ``timeout`` seconds."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
