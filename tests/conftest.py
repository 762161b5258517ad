"""Fixtures and options shared by every test: which broker the integration tests run against."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from stream_app import native
from tests.containers import docker_answers

# The broker and process fixtures, shared by tests/integration and tests/security (one broker per session);
# the PostgreSQL server and per-test databases.
pytest_plugins = ("tests.fixtures", "tests.postgres")

BROKER_KINDS = ("embedded", "kafka", "cluster", "testcontainers")
REAL_KAFKA = ("kafka", "cluster", "testcontainers")


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to test compiled modules older than their source: the tests would pass on the old code."""
    if native.stale():
        pytest.exit(
            f"compiled modules older than their source: {', '.join(native.stale())}. "
            "Rebuild them (./run test does; by hand: pip install -e .) or delete their .so files.",
            returncode=4,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=BROKER_KINDS,
        default=os.environ.get("CLICKPIPE_TEST_BROKER") or None,
        help="broker for integration tests: embedded, kafka (one real node), cluster (three real nodes) or "
        "testcontainers (Apache Kafka in a container); also CLICKPIPE_TEST_BROKER. Unset: testcontainers "
        "where a Docker engine answers, else embedded",
    )


def broker_kind(config: pytest.Config) -> str | None:
    """The broker kind chosen for this run, or None when nothing was chosen."""
    kind: str | None = config.getoption("--broker")
    return kind


def session_broker(config: pytest.Config) -> str:
    """The broker this run's integration tests get: ``external`` (``KAFKA_BOOTSTRAP_SERVERS``), the kind
    chosen, or with none chosen ``testcontainers`` where a Docker engine answers, else ``embedded``."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "external"
    kind = broker_kind(config)
    if kind is not None:
        return kind
    return "testcontainers" if docker_answers() else "embedded"


def runs_on_apache_kafka(config: pytest.Config) -> bool:
    """True when this run's integration tests get Apache Kafka: a real node or cluster, a container, or
    ``KAFKA_BOOTSTRAP_SERVERS``."""
    return session_broker(config) != "embedded"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with the reason, what cannot run on this run's broker: never silently.

    - ``cluster``: kills Kafka brokers, so it needs ``--broker cluster``.
    - ``kafka_only(reason)``: needs what only Apache Kafka has (idempotence, transactions ...).
    """
    kind = broker_kind(config)
    real = runs_on_apache_kafka(config)
    for item in items:
        if item.get_closest_marker("cluster") and kind != "cluster":
            item.add_marker(
                pytest.mark.skip(
                    reason="kills Kafka brokers: needs --broker cluster (CLICKPIPE_TEST_BROKER=cluster)"
                )
            )
        only = item.get_closest_marker("kafka_only")
        if only and not real:
            why = only.kwargs.get("reason") or (only.args[0] if only.args else "needs Apache Kafka")
            item.add_marker(pytest.mark.skip(reason=f"{why}: needs --broker kafka or cluster"))


_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> list[str]:
    """Lines of measured figures (failover latency, duplicates ...), printed at the end of the run."""
    return request.config.stash.setdefault(_FIGURES, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("clickpipe figures")
        for line in lines:
            terminalreporter.write_line(line)
    suites = _outcomes_by_suite(terminalreporter)
    if suites:
        terminalreporter.section("clickpipe suites")
        broker = session_broker(config)
        for suite, outcomes in sorted(suites.items()):
            where = f" (broker: {broker})" if suite in ("integration", "security") else ""
            counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
            terminalreporter.write_line(f"{suite}{where}: {counts}")


def _outcomes_by_suite(terminalreporter: pytest.TerminalReporter) -> dict[str, Counter[str]]:
    """Test outcomes by suite (``tests/<suite>/...``): passed, failed, skipped, error."""
    suites: dict[str, Counter[str]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            parts = getattr(report, "nodeid", "").split("/")
            if len(parts) > 2 and parts[0] == "tests":
                suites.setdefault(parts[1], Counter())[outcome] += 1
    return suites
