"""A real PostgreSQL for the tests of the PostgreSQL link store: never a mock.

A pytest plugin (``pytest_plugins`` in ``tests/conftest.py``). Which server, in this order:

- ``CLICKPIPE_TEST_POSTGRES_URL`` (a superuser's URL: the tests create databases);
- a testcontainers ``postgres:15`` when a Docker engine answers (``TC_HOST=127.0.0.1`` and
  ``TESTCONTAINERS_CONNECTION_MODE=docker_host`` where this machine is itself a container);
- a throwaway server from the local PostgreSQL 15 binaries (``CLICKPIPE_TEST_POSTGRES_BIN``, default
  ``/usr/lib/postgresql/15/bin``, Debian's ``postgresql-15``) in a temporary directory on a free port; as
  root it runs as the ``postgres`` user (or a system user made for it), since PostgreSQL refuses to run as
  root;
- none: the tests are skipped with the reason, or fail when ``CLICKPIPE_REQUIRE_POSTGRES=1``.

Each test gets a database of its own (``CREATE DATABASE`` with a uuid name), so tests don't see each other.
``LocalPostgres`` is also a server a test starts and stops itself (an outage).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from clickpipe.broker import free_port
from tests.containers import docker_answers

PG_BIN = Path(os.environ.get("CLICKPIPE_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
PG_IMAGE = "postgres:15"
_SERVICE_USER = "clickpipe-pg"  # made when running as root on a machine without a postgres user


def with_database(url: str, database: str) -> str:
    """``url`` naming another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def local_binaries() -> bool:
    """True when the PostgreSQL binaries are there to start a server of our own."""
    return (PG_BIN / "initdb").is_file() and (PG_BIN / "pg_ctl").is_file()


def _run_as() -> list[str]:
    """The command prefix that runs PostgreSQL's programs as a user other than root (empty when not root)."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", _SERVICE_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["runuser", "-u", name, "--"]
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVICE_USER],
        check=True,
        capture_output=True,
    )
    return ["runuser", "-u", _SERVICE_USER, "--"]


class LocalPostgres:
    """A PostgreSQL server from the local binaries, its data in a temporary directory, on 127.0.0.1:port
    (the same port across stop and start). A context manager: stopped and removed at the end."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="clickpipe-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.password = secrets.token_urlsafe(16)  # the superuser's; a test of the URL's password needs one
        self._as = _run_as()
        if self._as:
            user = self._as[2]
            shutil.chown(self.directory, user)
        (self.directory / "password").write_text(self.password)
        if self._as:
            shutil.chown(self.directory / "password", self._as[2])
        self._initdb()

    @property
    def url(self) -> str:
        """The superuser's URL, database ``postgres``."""
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _pg(self, program: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self._as, str(PG_BIN / program), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}\n{log}")

    def _initdb(self) -> None:
        self._pg(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--pwfile",
            str(self.directory / "password"),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )

    def start(self) -> LocalPostgres:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg(
            "pg_ctl", "start", "--wait", "--pgdata", str(self.data), "--log", str(self.log), "-o", options
        )
        return self

    def stop(self) -> None:
        """Stop the server (fast: clients are disconnected at once)."""
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata", str(self.data))

    def remove(self) -> None:
        """Stop the server and delete its files."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()


@dataclass(frozen=True)
class PostgresServer:
    """The server the tests make their databases on."""

    url: str  # a superuser's URL
    kind: str  # "external", "testcontainers" or "local"

    def create_database(self) -> str:
        """A new empty database; return its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"'.encode())
        return with_database(self.url, name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database`` (its connections are ended)."""
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def _unavailable(reason: str) -> None:
    if os.environ.get("CLICKPIPE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (CLICKPIPE_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session."""
    external = os.environ.get("CLICKPIPE_TEST_POSTGRES_URL")
    if external:
        yield PostgresServer(external, "external")
    elif docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(PG_IMAGE, driver=None) as container:
            yield PostgresServer(container.get_connection_url(), "testcontainers")
    elif local_binaries():
        with LocalPostgres() as server:
            yield PostgresServer(server.url, "local")
    else:
        _unavailable(
            "no PostgreSQL: set CLICKPIPE_TEST_POSTGRES_URL, run a Docker engine, or install postgresql-15 "
            f"(binaries in {PG_BIN})"
        )


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database of this test's own, dropped after it."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of this test's own (started), for a test that stops and restarts it."""
    if not local_binaries():
        _unavailable(f"a PostgreSQL outage test needs the local binaries (postgresql-15 in {PG_BIN})")
    with LocalPostgres() as server:
        yield server
