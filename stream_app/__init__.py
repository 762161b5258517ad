"""The stream worker: consumes clicks, aggregates them, serves the aggregates."""

from stream_app.app import create_app
from stream_app.settings import WorkerSettings

__all__ = ["WorkerSettings", "create_app"]
