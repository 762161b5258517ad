"""The few places clickpipe reaches under Faust's hood, in one module, pinned to one faust-streaming version.

- ``recovery_completed`` and ``generation``: whether table recovery has finished since the last rebalance,
  and the consumer group generation (state read before a rebalance may be stale after it).
- ``take_events``: the batching stream method that ``StreamT`` does not declare.
- ``partition_context``: Faust tables choose the changelog partition (and the RocksDB store picks its
  per-partition database) from the *current event*. The worker writes rows once per batch and from a timer,
  outside per-event iteration, so it sets the current event to a stand-in event of the right partition.

``tests/unit/stream_app/test_faust_internals.py`` fails when these internals change.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import faust
from faust import streams
from faust.events import Event
from faust.types import EventT, StreamT
from faust.types.tuples import Message

PINNED_FAUST_VERSION = "0.15.3"


def check_version() -> None:
    """Raise RuntimeError when the installed faust-streaming is not the version these internals match."""
    if faust.__version__ != PINNED_FAUST_VERSION:
        raise RuntimeError(
            f"stream_app.faust_internals is written for faust-streaming {PINNED_FAUST_VERSION}, "
            f"found {faust.__version__}: re-check it and its tests before moving the pin"
        )


@contextmanager
def partition_context(app: faust.App, topic: str, partition: int) -> Iterator[None]:
    """Within the block, table reads and writes belong to ``partition`` of ``topic``."""
    message = Message(
        topic=topic,
        partition=partition,
        offset=-1,
        timestamp=time.time(),
        timestamp_type=0,
        headers=[],
        key=None,
        value=None,
        checksum=None,
    )
    event = Event(app, None, None, [], message)
    token = streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        streams._current_event.reset(token)


def recovery_completed(app: faust.App) -> bool:
    """True once the tables have recovered their state for the current assignment."""
    return bool(cast(Any, app.tables).recovery.completed.is_set())


def generation(app: faust.App) -> int:
    """The consumer group generation: it changes with every rebalance."""
    return int(cast(Any, app).consumer_generation_id)


def take_events(
    stream: StreamT[bytes], max_events: int, within_seconds: float
) -> AsyncIterator[Sequence[EventT[bytes]]]:
    """Batches of up to ``max_events`` events, each acked after the batch is processed."""
    batches: AsyncIterator[Sequence[EventT[bytes]]] = cast(Any, stream).take_events(
        max_events, within_seconds
    )
    return batches
