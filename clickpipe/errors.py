"""Errors of the operations package (embedded broker, topic admin, ``up``, accounts, load generator).

Each error carries what went wrong as fields; never decide by matching its text.

Tree::

    ClickpipeError (schemas.errors)
    ├── OperationsError              a command could not set up or keep running what it runs on
    │   ├── BrokerStartError         a broker (embedded or Kafka) did not start or answer (retriable)
    │   ├── KafkaSetupError          Java or Kafka's jars are missing (the message says how to get them)
    │   ├── PortInUseError           something already listens on host:port (retriable: once it is gone)
    │   ├── TopicAdminError          topics could not be created or checked (retriable)
    │   └── ServiceError             a service that ``up`` runs failed
    │       ├── ServiceExitedError   it exited while it should run
    │       └── ServiceNotReadyError it did not become ready in time
    ├── UnknownAccountError          no account has the given id
    └── LoadgenError                 the load generator could not set up its links
"""

from __future__ import annotations

from schemas.errors import ClickpipeError


class OperationsError(ClickpipeError):
    """A command could not set up, or keep running, the infrastructure it runs on."""


class BrokerStartError(OperationsError):
    """A broker (embedded or Kafka) did not start or did not answer in time."""

    retriable = True


class KafkaSetupError(OperationsError):
    """Apache Kafka cannot run here: Java or Kafka's jars are missing, or Maven could not fetch them.

    The message says what to install or set.
    """


class PortInUseError(OperationsError):
    """Something already listens on ``host:port``; catch it to pick another port or to say which one."""

    retriable = True

    def __init__(self, what: str, host: str, port: int) -> None:
        super().__init__(f"{what} port {host}:{port} is already in use")
        self.what = what
        self.host = host
        self.port = port


class TopicAdminError(OperationsError):
    """Topics could not be created or checked on the broker."""

    retriable = True

    def __init__(self, message: str, bootstrap_servers: str) -> None:
        super().__init__(message)
        self.bootstrap_servers = bootstrap_servers


class ServiceError(OperationsError):
    """A service that ``clickpipe up`` runs failed; ``name`` says which (producer, worker, broker)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class ServiceExitedError(ServiceError):
    """A service exited while it should have been running; ``returncode`` is its exit code."""

    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"the {name} exited with code {returncode}", name)
        self.returncode = returncode


class ServiceNotReadyError(ServiceError):
    """A service did not answer ``url`` as ready within ``timeout`` seconds."""

    def __init__(self, name: str, url: str, timeout: float) -> None:
        super().__init__(f"the {name} was not ready at {url} within {timeout:.0f}s", name)
        self.url = url
        self.timeout = timeout


class UnknownAccountError(ClickpipeError):
    """No account has ``account_id`` in the link database; catch it to tell the user to create one."""

    def __init__(self, account_id: str, database: str) -> None:
        super().__init__(f"no account {account_id!r} in {database}")
        self.account_id = account_id
        self.database = database


class LoadgenError(ClickpipeError):
    """The load generator could not set up its links.

    ``status`` is the HTTP status the service answered, or None when it did not answer at all.
    """

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
