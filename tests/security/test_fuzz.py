"""Both HTTP APIs fuzzed from their own OpenAPI documents (schemathesis), against the running services.

Every operation gets generated requests, valid and not, with a tenant's key: no answer may be a 5xx, carry a
status code or body outside its documented schema, or take the service down. ``fuzz/schemathesis.toml``
says which check is off, and why. The number of requests tried is printed with the run's figures.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import API_KEY, Service, StartProducer, StartWorker

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parent / "fuzz" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 30
"""Generated requests per operation and phase (a few hundred per service, ~10 s each)."""


def _fuzz(document: str, service: Service, figures: list[str], name: str) -> None:
    command = [
        str(SCHEMATHESIS), "--no-color", "--config-file", str(CONFIG), "run", document,
        "--header", f"Authorization: Bearer {API_KEY}", "--max-examples", str(MAX_EXAMPLES),
        "--seed", "20261208", "--request-timeout", "30",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    tried = re.search(r"(\d+) generated", done.stdout)
    assert done.returncode == 0, f"schemathesis found failures in the {name}:\n{done.stdout[-8000:]}"
    assert tried is not None, done.stdout[-3000:]
    assert service.process.poll() is None, f"the {name} died under the fuzzer"
    figures.append(f"fuzzing the {name}: {tried.group(1)} requests, no failure")


def test_the_producer_api_answers_every_generated_request_as_documented(
    start_producer: StartProducer, figures: list[str]
) -> None:
    producer = start_producer()
    _fuzz(f"{producer.url}/openapi.json", producer, figures, "producer")


def test_the_worker_api_answers_every_generated_request_as_documented(
    start_producer: StartProducer, start_worker: StartWorker, figures: list[str]
) -> None:
    producer = start_producer()
    worker = start_worker(auth_url=producer.url)
    deadline = time.monotonic() + 60  # its partitions assigned and recovered: no 503 "try again" is fuzzed
    while httpx.get(f"{worker.url}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the worker never became ready"
        time.sleep(0.2)
    _fuzz(f"{worker.url}/api/openapi.json", worker, figures, "worker")
