"""Run the stream worker."""

from __future__ import annotations

import faust

from stream_app.app import create_app
from stream_app.settings import WorkerSettings


def run_worker(settings: WorkerSettings) -> None:
    """Run the Faust worker until SIGINT/SIGTERM (exits the process when done)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    # At WARNING and above Faust adds a terminal spinner that sets the root logger to DEBUG, so every
    # debug record of aiokafka is built and dropped: ~10% of the worker's time. No spinner, no DEBUG.
    worker.spinner = None
    worker.execute_from_commandline()
