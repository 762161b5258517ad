"""Handoff and LoopThread: the queue between the request path and a sender on another thread's loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from producer.sender_thread import Handoff, LoopThread


async def test_a_full_handoff_refuses_and_keeps_the_order() -> None:
    handoff: Handoff[int] = Handoff(3)
    assert [handoff.put(i) for i in range(4)] == [True, True, True, False]
    assert handoff.qsize() == 3
    assert handoff.take(2) == [0, 1]
    assert await handoff.get() == 2
    assert handoff.empty() and handoff.take(5) == []


async def test_a_put_on_the_consumers_own_loop_wakes_it() -> None:
    handoff: Handoff[int] = Handoff(10)
    getting = asyncio.create_task(handoff.get())
    await asyncio.sleep(0)
    assert not getting.done()
    handoff.put(7)
    assert await asyncio.wait_for(getting, 1) == 7


async def test_a_cancelled_get_loses_nothing() -> None:
    handoff: Handoff[int] = Handoff(10)
    getting = asyncio.create_task(handoff.get())
    await asyncio.sleep(0)
    getting.cancel()
    handoff.put(1)  # the cancelled waiter is woken, harmlessly
    await asyncio.wait({getting})
    assert await handoff.get() == 1


class CountingLoop(asyncio.SelectorEventLoop):
    """Counts the wake-ups other threads ask of it."""

    threadsafe_calls = 0

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        self.threadsafe_calls += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


def test_puts_from_another_thread_wake_the_consumer_only_when_it_waits() -> None:
    handoff: Handoff[int] = Handoff(100_000)
    loop = CountingLoop()
    got: list[int] = []
    waiting = threading.Event()

    async def consume() -> None:
        while len(got) < 20_001:
            if handoff.empty():
                waiting.set()
            got.append(await handoff.get())
            got.extend(handoff.take(1_000))

    consumer = threading.Thread(target=loop.run_until_complete, args=(consume(),))
    consumer.start()
    try:
        assert waiting.wait(5)  # it waits: the next put must wake it
        handoff.put(0)
        for i in range(1, 20_001):
            handoff.put(i)
        consumer.join(10)
    finally:
        loop.close()
    assert got == list(range(20_001))
    assert 1 <= loop.threadsafe_calls < 1_000  # a wake per idle spell, not a syscall per put


async def test_a_loop_thread_runs_coroutines_on_its_own_thread_and_stops() -> None:
    thread = LoopThread("test-loop")
    await thread.start()

    async def where() -> int:
        await asyncio.sleep(0)
        return threading.get_ident()

    assert await thread.run(where()) != threading.get_ident()
    pending = asyncio.create_task(thread.run(asyncio.sleep(60)))
    await asyncio.sleep(0.01)
    await thread.stop()
    await thread.stop()  # idempotent
    await asyncio.wait({pending})
    assert pending.cancelled()
    assert not any(t.name == "test-loop" for t in threading.enumerate())
