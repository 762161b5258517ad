"""Handing clicks from the request path to a sender that may run on a thread (and event loop) of its own.

``Handoff`` is the bounded queue between them: ``put`` is a deque append, and it wakes the sender only
when the sender waits for work (``call_soon_threadsafe`` when the sender's loop is on another thread), so a
busy sender costs the request path no syscall per click. ``LoopThread`` is that other thread: an event loop
the publisher runs its sender, its aiokafka producer and its spool calls on, so building, encoding and
sending batches do not hold up the loop that answers requests (they still share the GIL with it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """A bounded FIFO with one consumer (an event loop's task) and producers on any thread.

    Args:
        maxsize: items held; ``put`` refuses more.
    """

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._waiter_thread = 0

    def put(self, item: T) -> bool:
        """Append ``item`` unless full (False); wake the consumer if it waits. Never blocks."""
        if len(self._items) >= self._maxsize:
            return False
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            loop = waiter.get_loop()
            if threading.get_ident() == self._waiter_thread:
                loop.call_soon(_wake, waiter)
            elif not loop.is_closed():  # closed: the consumer is gone, the item waits for stop's sweep
                loop.call_soon_threadsafe(_wake, waiter)
        return True

    async def get(self) -> T:
        """The oldest item, once there is one."""
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter_thread = threading.get_ident()
            self._waiter = waiter
            if self._items:  # put between the check and the waiter being seen: it did not wake us
                self._waiter = None
                break
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.popleft()

    def take(self, count: int) -> list[T]:
        """Up to ``count`` of the oldest items, without waiting."""
        items = self._items
        count = min(count, len(items))
        return [items.popleft() for _ in range(count)]

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items)

    def empty(self) -> bool:
        """No item waits."""
        return not self._items


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LoopThread:
    """An event loop running on a thread of its own, for as long as the owner needs it.

    Args:
        name: the thread's name.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Start the thread; return once its loop runs."""
        if self._thread is not None:
            return
        ready: concurrent.futures.Future[asyncio.AbstractEventLoop] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self._name, daemon=True)
        self._thread.start()
        self._loop = await asyncio.wrap_future(ready)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the thread's loop and return its result (cancelling the caller cancels it)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the loop thread is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def stop(self) -> None:
        """Cancel what still runs on the loop, stop it and wait for the thread to end. Idempotent."""
        thread, loop, self._thread, self._loop = self._thread, self._loop, None, None
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def _main(self, ready: concurrent.futures.Future[asyncio.AbstractEventLoop]) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        ready.set_result(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover -- uvloop ships with the service
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
