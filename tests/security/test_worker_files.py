"""A worker's table state holds every tenant's counts, URLs, referers and cities: private to its user."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import StartWorker

pytestmark = pytest.mark.integration


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # as a shell leaves it: new files 0644, directories 0755
    yield
    os.umask(old)


def test_worker_state_is_private_whatever_the_umask(
    start_worker: StartWorker, tmp_path: Path, permissive_umask: None
) -> None:
    worker = start_worker()
    deadline = time.monotonic() + 60
    while httpx.get(f"{worker.url}/readyz", timeout=5).status_code != 200:  # partitions assigned, state open
        assert time.monotonic() < deadline, "the worker never got ready"
        time.sleep(0.2)
    files = [tmp_path / "worker", *(tmp_path / "worker").rglob("*")]
    assert len(files) > 3, files  # RocksDB's files are there to check
    loose = [
        f"{path} {oct(stat.S_IMODE(path.stat().st_mode))}" for path in files if path.stat().st_mode & 0o077
    ]
    assert loose == []
