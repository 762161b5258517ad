"""Every answer of a worker's web server carries the security headers: dashboard, API, errors, files."""

from __future__ import annotations

import httpx
import pytest

from stream_app.security_headers import HEADERS
from tests.integration.conftest import StartWorker

pytestmark = pytest.mark.integration


def test_every_answer_forbids_inline_scripts_framing_and_sniffing(start_worker: StartWorker) -> None:
    worker = start_worker()
    for path, status in (
        ("/healthz", 200),
        ("/dashboard", 200),
        ("/static/dashboard.js", 200),
        ("/api/analytics", 401),
        ("/api/openapi.json", 200),
        ("/no-such-page", 404),
    ):
        response = httpx.get(worker.url + path, timeout=10)
        assert response.status_code == status, path
        assert {name: response.headers.get(name) for name in HEADERS} == HEADERS, path
