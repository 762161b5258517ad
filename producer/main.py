"""Run the redirect service with uvicorn."""

from __future__ import annotations

import uvicorn

from producer.app import create_app
from producer.settings import ProducerSettings


def serve(settings: ProducerSettings) -> None:
    """Serve the redirect service until SIGINT/SIGTERM; pending clicks are published before exit."""
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
