"""``clickpipe up``: a broker, the topics, the producer and the worker in one command, stopped together.

Starts the broker, creates the topics, starts the worker and the producer, and prints the banner once both
say they are ready. Ctrl-C, SIGTERM or SIGHUP (or a part that dies) stops everything in order: the producer
first, so its last clicks reach the broker, then the worker, the broker last, each within a bounded time.

Every child runs in a session of its own, so Ctrl-C in the terminal reaches only ``up``; children die with
``up`` even when it is SIGKILLed (see ``clickpipe.process``). The broker is pluggable (``PipelineBroker``):
``up`` takes a factory, so the embedded broker, an external one, or another kind fits the same seam.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn, Protocol, Self, TextIO

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker, port_answers
from clickpipe.errors import PortInUseError, ServiceError, ServiceExitedError, ServiceNotReadyError
from clickpipe.kafka import KafkaCluster
from clickpipe.kafka_acls import ADMIN, PRODUCER, WORKER
from clickpipe.process import ChildProcess, Guard
from producer.keys import new_api_key
from schemas.broker_auth import ENV_NAMES, BrokerAuth
from schemas.topics import DEFAULT_PARTITIONS, pipeline_topics


class PipelineBroker(Protocol):
    """The broker ``up`` runs the pipeline on: started first, stopped last. ``EmbeddedBroker`` is one."""

    @property
    def kind(self) -> str:
        """What it is, for the banner (``embedded, in memory``, ``external``, ...)."""
        ...

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` list clients connect to (known once started)."""
        ...

    @property
    def running(self) -> bool:
        """False once it has stopped or died (always True for one ``up`` does not run)."""
        ...

    @property
    def full_kafka(self) -> bool:
        """False for a broker with Kafka's protocol but not all its guarantees (the embedded one: its end
        offsets fail the worker's changelog check, which ``up`` then turns off)."""
        ...

    def auth(self, user: str) -> BrokerAuth:
        """How ``user`` (``admin``, ``producer``, ``worker``) connects (PLAINTEXT where no one logs in)."""
        ...

    def start(self) -> Self:
        """Start it and wait until it answers; return it."""
        ...

    def stop(self) -> None:
        """Stop it, within a few seconds. Safe to call more than once."""
        ...


#: Builds the broker; gets ``up``'s data directory (a broker that keeps data keeps it in a folder of it).
BrokerFactory = Callable[[Path], PipelineBroker]


class ExternalBroker:
    """A broker someone else runs (``KAFKA_BOOTSTRAP_SERVERS``): nothing to start or stop."""

    kind = "external"
    running = True
    full_kafka = True

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    def auth(self, user: str) -> BrokerAuth:
        """``CLICKPIPE_KAFKA_*`` as given, for every part."""
        return BrokerAuth()

    def start(self) -> Self:
        """Nothing to start."""
        return self

    def stop(self) -> None:
        """Nothing to stop."""


def embedded_broker(host: str, port: int) -> BrokerFactory:
    """A factory of the embedded broker on ``host:port``, logging into ``up``'s working directory."""
    return lambda workdir: EmbeddedBroker(host, port, log_file=workdir / "broker.log")


def kafka_broker(host: str, port: int) -> BrokerFactory:
    """A factory of one Apache Kafka node on ``host:port``, keeping its data in ``up``'s data directory
    (``kafka/``), so its clicks and the worker's changelogs outlive ``up``."""
    return lambda data_dir: KafkaCluster(1, host=host, port=port, data_dir=data_dir / "kafka")


@dataclass(frozen=True, slots=True)
class StopTimeouts:
    """Seconds each part gets to stop after SIGTERM before it is SIGKILLed (together: within 5 s)."""

    producer: float = 1.5
    worker: float = 2.5
    producer_drain: float = 1.0  # the producer's own deadline for pending clicks, inside its timeout


@dataclass(frozen=True, slots=True)
class UpOptions:
    """Where the services listen, and how ``up`` behaves."""

    host: str = "127.0.0.1"
    data_dir: Path = Path("data")  # accounts, keys, links, spool (and with Kafka its data, worker state)
    producer_port: int = 8000
    worker_port: int = 6066
    partitions: int = DEFAULT_PARTITIONS
    ready_timeout: float = 90.0
    verbose: bool = False  # the services' INFO logs; by default only their warnings and errors
    stop: StopTimeouts = field(default_factory=StopTimeouts)
    orphan_grace: float = 3.0  # if ``up`` is killed: seconds its services get to stop before SIGKILL

    @property
    def producer_url(self) -> str:
        """The redirect service's base URL."""
        return f"http://{self.host}:{self.producer_port}"

    @property
    def worker_url(self) -> str:
        """The worker's HTTP API base URL."""
        return f"http://{self.host}:{self.worker_port}"


DEMO_KEY_FILE = "demo-api-key"
"""The demo account's API key, in the producer's data directory (mode 0600): the same key every run."""


def demo_key(producer_dir: Path) -> str:
    """The demo account's API key kept in ``producer_dir``, made and written on the first run."""
    path = producer_dir / DEMO_KEY_FILE
    if path.is_file():
        return path.read_text().strip()
    producer_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = new_api_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


class _Stop(Exception):
    """Raised by the SIGTERM and SIGHUP handlers to unwind ``Up.run``."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@contextlib.contextmanager
def _signals(handler: signal.Handlers | Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Handle SIGTERM and SIGHUP (and SIGINT when ignoring) with ``handler`` inside the block."""
    names = [signal.SIGTERM, signal.SIGHUP] + ([signal.SIGINT] if handler is signal.SIG_IGN else [])
    previous = {signum: signal.signal(signum, handler) for signum in names}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class Up:
    """``clickpipe up``: start the parts, print the banner, wait for a stop, stop the parts in order.

    Args:
        options: ports and behaviour.
        broker_factory: builds the broker (``embedded_broker(...)``, ``ExternalBroker``, ...).
        out: where the banner goes.
    """

    def __init__(self, options: UpOptions, broker_factory: BrokerFactory, out: TextIO = sys.stdout) -> None:
        self._options = options
        self._broker_factory = broker_factory
        self._out = out
        self._token = ""
        self._broker: PipelineBroker | None = None
        self._services: dict[str, ChildProcess] = {}

    def run(self) -> int:
        """Run until Ctrl-C, SIGTERM or SIGHUP (exit code 0); a part that dies raises ``ServiceError``."""
        workdir = Path(tempfile.mkdtemp(prefix="clickpipe-up-"))
        guard = Guard(grace=self._options.orphan_grace)
        # Ctrl-C stops ``up`` even when it was started with SIGINT ignored (a shell script's background job).
        previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with _signals(_raise_stop):
                broker = self._start(workdir, guard)
                self._print_banner(broker)
                self._wait_for_a_death()
        except (KeyboardInterrupt, _Stop):
            print("\nstopping clickpipe ...", file=sys.stderr, flush=True)  # noqa: T201
            return 0
        finally:
            with _signals(signal.SIG_IGN):  # a second Ctrl-C must not cut the ordered stop short
                self._stop(guard)
            guard.close()
            shutil.rmtree(workdir, ignore_errors=True)
            signal.signal(signal.SIGINT, previous_sigint)

    def _start(self, workdir: Path, guard: Guard) -> PipelineBroker:
        options = self._options
        for name, port in (("producer", options.producer_port), ("worker", options.worker_port)):
            if port_answers(options.host, port):
                raise PortInUseError(name, options.host, port)
        data_dir = options.data_dir
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._token = demo_key(data_dir / "producer")
        self._broker = broker = self._broker_factory(data_dir)
        bootstrap = broker.start().bootstrap_servers
        # The worker's state follows the broker's: kept beside Kafka's data; with the embedded broker, which
        # starts empty, a state of its own each run (state kept from clicks the broker no longer has would
        # show counts no topic holds).
        worker_dir = data_dir / "worker" if broker.full_kafka else workdir / "worker"
        asyncio.run(ensure_topics(bootstrap, pipeline_topics(options.partitions), auth=broker.auth(ADMIN)))
        level = "INFO" if options.verbose else "WARNING"
        env = {
            **{name: value for name, value in os.environ.items() if name not in ENV_NAMES},
            "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": bootstrap,
            "CLICKPIPE_PRODUCER_DEMO_API_KEY": self._token,
            "CLICKPIPE_PRODUCER_DATA_DIR": str(data_dir / "producer"),
            "CLICKPIPE_PRODUCER_DRAIN_SECONDS": str(options.stop.producer_drain),
            "CLICKPIPE_WORKER_BOOTSTRAP_SERVERS": bootstrap,
            "CLICKPIPE_WORKER_PARTITIONS": str(options.partitions),
            "CLICKPIPE_WORKER_DATA_DIR": str(worker_dir),
            "CLICKPIPE_WORKER_LOG_LEVEL": level,
            "CLICKPIPE_WORKER_AUTH_URL": options.producer_url,  # stats callers' keys are the link API's
        }
        if not broker.full_kafka:
            env["CLICKPIPE_WORKER_RECOVERY_CONSISTENCY_CHECK"] = "false"
        command = [sys.executable, "-m", "clickpipe", "--log-level", level]
        host = options.host
        # Each part logs in to the broker as its own user (a secured Kafka lets each do only its part).
        self._services["worker"] = ChildProcess(
            "worker",
            [*command, "worker", "--web-host", host, "--web-port", str(options.worker_port)],
            env=env | broker.auth(WORKER).environment(),
        )
        guard.watch(self._services["worker"])
        self._services["producer"] = ChildProcess(
            "producer",
            [*command, "producer", "--demo", "--host", host, "--port", str(options.producer_port)],
            env=env | broker.auth(PRODUCER).environment(),
        )
        guard.watch(self._services["producer"])
        self._wait_ready("producer", f"{options.producer_url}/readyz")
        self._wait_ready("worker", f"{options.worker_url}/readyz")
        return broker

    def _wait_ready(self, name: str, url: str) -> None:
        """Poll ``url`` until it answers 200, the service exits, or the ready timeout passes."""
        child = self._services[name]
        deadline = time.monotonic() + self._options.ready_timeout
        while time.monotonic() < deadline:
            code = child.poll()
            if code is not None:
                raise ServiceExitedError(name, code)
            try:
                with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own http:// URL
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise ServiceNotReadyError(name, url, self._options.ready_timeout)

    def _wait_for_a_death(self) -> NoReturn:
        """Block until a part dies (then raise ``ServiceError``) or a signal handler raises."""
        while True:
            self._raise_if_a_part_died()
            # Wait for a child to exit without reaping it, so that its owner still sees its exit code.
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            self._raise_if_a_part_died()
            if exited is not None:  # a child that is not a part: reap it, or it wakes us forever
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(exited.si_pid, os.WNOHANG)

    def _raise_if_a_part_died(self) -> None:
        for name, child in self._services.items():
            code = child.poll()
            if code is not None:
                raise ServiceExitedError(name, code)
        if self._broker is not None and not self._broker.running:
            raise ServiceError("the broker stopped", "broker")

    def _stop(self, guard: Guard) -> None:
        """The producer first (its last clicks reach the broker), then the worker, the broker last."""
        timeouts = self._options.stop
        for name, timeout in (("producer", timeouts.producer), ("worker", timeouts.worker)):
            child = self._services.pop(name, None)
            if child is not None:
                child.stop(timeout)
                guard.forget(child)
        if self._broker is not None:
            self._broker.stop()

    def _print_banner(self, broker: PipelineBroker) -> None:
        producer, worker = self._options.producer_url, self._options.worker_url
        data_dir = self._options.data_dir.resolve()
        kept = (
            "accounts, keys, links, clicks and counts"
            if broker.full_kafka
            else "accounts, keys and links; clicks and counts are in memory, with the broker: gone at Ctrl-C"
        )
        admin = broker.auth(ADMIN)
        if isinstance(broker, ExternalBroker):
            open_note = f"; {admin.describe()}"
        elif isinstance(broker, KafkaCluster) and broker.secured:
            open_note = (
                f"; {admin.sasl_mechanism} and ACLs:\n              each part logs in as its own user, "
                f"passwords in {broker.credentials_path}"
            )
        else:
            open_note = (
                "; no authentication, for development:\n              any process that reaches "
                "this port can read and write the topics"
            )
        print(
            f"""
clickpipe is up
  data        {data_dir}   ({kept})
  broker      {broker.bootstrap_servers} ({broker.kind}{open_note})
  redirects   {producer}/demo
              try: curl -i -H 'CF-IPCountry: DE' {producer}/demo
  link API    {producer}/docs   (demo account's API key: {self._token})
  analytics   {worker}/api/analytics?groupBy=top_links&interval=24h   (OpenAPI: {worker}/api/openapi.json)
  dashboard   {worker}/dashboard
Press Ctrl-C to stop everything.
""",
            file=self._out,
            flush=True,
        )
