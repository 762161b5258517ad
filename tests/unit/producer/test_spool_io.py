"""SpoolIO: a spool's calls run one at a time, in order, off the event loop; counts are a snapshot."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from producer.spool import Spool
from producer.spool_io import SpoolIO


async def test_calls_run_in_order_on_another_thread_and_update_the_counts(tmp_path: Path) -> None:
    io = SpoolIO(Spool(tmp_path))
    threads: list[int] = []

    def append(spool: Spool, n: int) -> int:
        threads.append(threading.get_ident())
        return spool.append([(b"k", str(n).encode())])

    await asyncio.gather(*(io.run(lambda spool, n=n: append(spool, n)) for n in range(20)))
    assert io.counts.records == 20 and io.counts.bytes > 0
    assert threading.get_ident() not in threads
    batch = await io.run(lambda spool: spool.read_batch(100))
    assert batch is not None
    assert [value for _, value in batch.records] == [str(n).encode() for n in range(20)]
    await io.run(lambda spool: spool.ack(batch))
    assert io.counts.records == 0
    await io.run(Spool.close)
    io.shutdown()


async def test_a_call_whose_caller_is_cancelled_still_runs(tmp_path: Path) -> None:
    io = SpoolIO(Spool(tmp_path))
    release = threading.Event()
    blocker = asyncio.ensure_future(io.run(lambda spool: release.wait(5)))
    queued = asyncio.ensure_future(io.run(lambda spool: spool.append([(b"k", b"v")])))
    await asyncio.sleep(0)
    queued.cancel()
    release.set()
    await blocker
    await io.run(Spool.close)  # runs after the cancelled caller's append
    assert io.counts.records == 1
    io.shutdown()
