"""The hostile-input suite reuses the integration tests' broker and process fixtures (imported, not copied:
pytest registers imported fixtures as this directory's own)."""

from tests.integration.conftest import (  # noqa: F401
    broker,
    pytest_runtest_makereport,
    services,
    start_producer,
    topics,
)
