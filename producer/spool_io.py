"""A ``Spool`` driven from the event loop: its file I/O (writes, fsyncs, reads) runs on one thread of its own.

The spool is not thread-safe, so every call holds one lock, and calls from the loop go to a single-thread
executor in the order they are made. Once handed to the thread, a call runs to its end even if the coroutine
that awaits it is cancelled (a shutdown must not lose an append half-way). The loop reads the spool's counts
from a snapshot taken after each call, never from the spool while the thread changes it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import NamedTuple, TypeVar

from producer.spool import Spool

T = TypeVar("T")


class SpoolCounts(NamedTuple):
    """The spool's counts after the last call."""

    records: int
    bytes: int
    room: int | None  # bytes an append may still add (None: no cap)


class SpoolIO:
    """Runs calls on a ``Spool`` one at a time, off the event loop (``run``) or, rarely, on it (``run_now``).

    Args:
        spool: the spool; only this object touches it from now on.
        executor: where calls run; a thread of its own when None (tests may pass one that runs inline).
    """

    def __init__(self, spool: Spool, executor: Executor | None = None) -> None:
        self._spool = spool
        self._lock = threading.Lock()
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="click-spool")
        self.counts = _counts(spool)

    async def run(self, call: Callable[[Spool], T]) -> T:
        """Run ``call(spool)`` on the spool's thread, after every call asked for before it."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, self.run_now, call)
        return await asyncio.shield(future)  # a cancelled caller does not cancel a call not yet started

    def run_now(self, call: Callable[[Spool], T]) -> T:
        """Run ``call(spool)`` in this thread, waiting for a call in progress: for a caller that cannot await
        (the request path's overflow when the queue is full)."""
        with self._lock:
            try:
                return call(self._spool)
            finally:
                self.counts = _counts(self._spool)

    def shutdown(self) -> None:
        """Stop the spool's thread once the calls asked for have run. Idempotent."""
        if self._own_executor:
            self._executor.shutdown(wait=True)


def _counts(spool: Spool) -> SpoolCounts:
    return SpoolCounts(spool.pending_records, spool.pending_bytes, spool.room_bytes)
