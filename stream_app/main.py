"""Run the stream worker."""

from __future__ import annotations

from typing import Any

import faust

from stream_app.app import create_app
from stream_app.settings import WorkerSettings


def run_worker(settings: WorkerSettings, logging_config: dict[str, Any] | None = None) -> None:
    """Run the Faust worker until SIGINT/SIGTERM (exits the process when done)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(
        app, loglevel=settings.log_level, redirect_stdouts=False, logging_config=logging_config
    )
    # At WARNING and above Faust adds a terminal spinner that sets the root logger to DEBUG, so every
    # debug record of aiokafka is built and dropped: ~10% of the worker's time. No spinner, no DEBUG.
    worker.spinner = None
    worker.execute_from_commandline()
