"""Run the stream worker."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import faust

from stream_app import local_state, native
from stream_app.app import create_app
from stream_app.settings import WorkerSettings


def run_worker(settings: WorkerSettings, logging_config: dict[str, Any] | None = None) -> None:
    """Run the Faust worker until SIGINT/SIGTERM (exits the process when done)."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # table state holds every tenant's counts, URLs and referers
    app = create_app(settings)
    kept = local_state.claim(settings.data_dir, Path(app.conf.tabledir))
    worker = faust.Worker(
        app, loglevel=settings.log_level, redirect_stdouts=False, logging_config=logging_config
    )
    # At WARNING and above Faust adds a terminal spinner that sets the root logger to DEBUG, so every
    # debug record of aiokafka is built and dropped: ~10% of the worker's time. No spinner, no DEBUG.
    worker.spinner = None
    tune_gc()
    log = logging.getLogger(__name__)
    (log.warning if native.stale() else log.info)("hot modules: %s", native.describe())
    log.info("local table state %s", "kept from a clean stop" if kept else "new: the changelog is recovered")
    try:
        worker.execute_from_commandline()
    except SystemExit as done:
        if done.code in (0, None) and worker.crash_reason is None:
            local_state.mark_clean(settings.data_dir)
        raise


GC_THRESHOLDS = (50_000, 50, 100)
"""The cyclic collector's thresholds for the worker (CPython's default is (700, 10, 10))."""


def tune_gc() -> None:
    """Let the cyclic garbage collector run less often.

    Window state is millions of small objects (cells, counts) that live for minutes to days and hold no
    reference cycles; at the default thresholds the collector walks them again and again (~15% of the
    worker's time in bench/stream). Reference counting still frees everything at once.
    """
    gc.set_threshold(*GC_THRESHOLDS)
