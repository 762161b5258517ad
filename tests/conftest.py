"""Fixtures and options shared by every test: which broker the integration tests run against."""

from __future__ import annotations

import os

import pytest

from stream_app import native

# The broker and process fixtures, shared by tests/integration and tests/security (one broker per session);
# the PostgreSQL server and per-test databases.
pytest_plugins = ("tests.fixtures", "tests.postgres")

BROKER_KINDS = ("embedded", "kafka", "cluster")
REAL_KAFKA = ("kafka", "cluster")


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
        help="broker for integration tests: embedded (default), kafka (one real node) or cluster (three real "
        "nodes); also CLICKPIPE_TEST_BROKER",
    )


def broker_kind(config: pytest.Config) -> str | None:
    """The broker kind chosen for this run, or None when nothing was chosen."""
    kind: str | None = config.getoption("--broker")
    return kind


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with the reason, what cannot run on this run's broker: never silently.

    - ``cluster``: kills Kafka brokers, so it needs ``--broker cluster``.
    - ``kafka_only(reason)``: needs what only Apache Kafka has (idempotence, transactions ...).
    """
    kind = broker_kind(config)
    real = kind in REAL_KAFKA or bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
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
