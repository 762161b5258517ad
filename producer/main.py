"""Run the redirect service with uvicorn."""

from __future__ import annotations

from typing import Any

import uvicorn

from producer.app import create_app
from producer.settings import ProducerSettings


def serve(settings: ProducerSettings, log_config: dict[str, Any] | None = None) -> None:
    """Serve the redirect service until SIGINT/SIGTERM; pending clicks are published (or spooled) first."""
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
        log_config=log_config,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
