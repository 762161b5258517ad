"""The worker's per-click path without a broker, against the anchor's, in one process.

    python -m bench.engine [--events 200000] [--rounds 3]
    valgrind --tool=callgrind python -m bench.engine --events 40000 --only worker   # minus --only setup

Builds realistic ``link_click.v3`` messages (``bench.common.realistic_clicks``) over 4 partitions, cut into
fetches, then measures, in alternated rounds, the anchor (fastavro decoding and ``AnchorCounts``, plain
Python's ceiling for the job) and the worker's own path: ``ClickProcessor`` decoding each fetch, folding it
into the engines over a ``TableRowStore`` (the worker's encoding of state, over a dict instead of RocksDB and
the changelog), and encoding the aggregates of the windows that close. No broker, Faust or network: what is
left is the code clickpipe owns. Prints CPU seconds per round as events/s and the medians.

On a shared machine CPU time still moves by 20 % from run to run. ``--only`` runs one part once and exits, for
``valgrind --tool=callgrind``, which counts instructions the same on a busy machine: run it with ``--only
worker`` and with ``--only setup``, and divide the difference by ``--events`` for instructions per click.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import zlib

from aiokafka.structs import ConsumerRecord

from bench.common import realistic_clicks
from bench.stream import AnchorCounts
from schemas.codec import LinkClickCodec
from stream_app.decoding import ClickDecoder
from stream_app.main import tune_gc
from stream_app.metrics import WorkerMetrics
from stream_app.processor import ClickProcessor, OutputTopics
from stream_app.settings import WorkerSettings
from stream_app.state import TableRowStore
from stream_app.testing import InMemoryPartitions, InMemorySend

PARTITIONS = 4


Message = ConsumerRecord[bytes, bytes]
"""A fetched click message: the aiokafka record the worker's tap hands on."""


def fetches(events: int, fetch_size: int) -> tuple[list[list[Message]], int]:
    """Return the clicks as fetches of up to ``fetch_size`` messages over every partition, and a wall clock
    (epoch ms) just after the last click."""
    clicks = realistic_clicks(events)
    codec = LinkClickCodec()
    by_partition: list[list[Message]] = [[] for _ in range(PARTITIONS)]
    for click in clicks:
        key = click.key or b""
        partition = zlib.crc32(key) % PARTITIONS
        messages = by_partition[partition]
        value = codec.encode(click)
        sent_ms = int(click.timestamp.timestamp() * 1000)  # as the redirect recording it sent it
        messages.append(
            ConsumerRecord(
                "clicks", partition, len(messages), sent_ms, 0, key, value, None, len(key), len(value), []
            )
        )
    share = max(1, fetch_size // PARTITIONS)
    longest = max(len(messages) for messages in by_partition)
    cut = [
        [message for messages in by_partition for message in messages[start : start + share]]
        for start in range(0, longest, share)
    ]
    wall_ms = max(int(click.timestamp.timestamp() * 1000) for click in clicks) + 1_000
    return cut, wall_ms


async def worker(batches: list[list[Message]], wall_ms: int) -> float:
    """CPU seconds for the worker's processor to take every fetch and settle."""
    settings = WorkerSettings()
    partitions = InMemoryPartitions(
        TableRowStore({}),  # type: ignore[arg-type]
        settings.granularities(),
        owned=range(PARTITIONS),
        grace_ms=int(settings.grace_seconds * 1000),
        buckets=settings.buckets,
        clock=lambda: wall_ms,
    )
    processor = ClickProcessor(
        partitions, ClickDecoder(), InMemorySend(), OutputTopics("aggregates", "dlq", "late"), WorkerMetrics()
    )
    started = time.process_time()
    for batch in batches:
        await processor.handle(batch)
    await processor.settle()
    return time.process_time() - started


def anchor(batches: list[list[Message]]) -> float:
    """CPU seconds for fastavro decoding and ``AnchorCounts`` over every fetch."""
    codec = LinkClickCodec()
    counts = AnchorCounts()
    started = time.process_time()
    for batch in batches:
        for message in batch:
            counts.add(codec.decode(message.value or b""))
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--fetch", type=int, default=2_000, help="messages per fetch, over all partitions")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds; medians are printed")
    parser.add_argument(
        "--only",
        choices=["setup", "worker", "anchor"],
        help="build the fetches and run one part once (or none: setup), for callgrind",
    )
    args = parser.parse_args()
    batches, wall_ms = fetches(args.events, args.fetch)
    tune_gc()  # as the worker runs
    if args.only is not None:
        if args.only == "worker":
            asyncio.run(worker(batches, wall_ms))
        elif args.only == "anchor":
            anchor(batches)
        return
    anchors: list[float] = []
    workers: list[float] = []
    for round_ in range(1, args.rounds + 1):
        anchors.append(args.events / anchor(batches))
        workers.append(args.events / asyncio.run(worker(batches, wall_ms)))
        print(f"round {round_}:  anchor {anchors[-1]:,.0f}  worker path {workers[-1]:,.0f}", flush=True)
    a, w = statistics.median(anchors), statistics.median(workers)
    print(f"\nmedians of {args.rounds} rounds, {args.events:,} clicks, events per CPU second")
    print(f"anchor: decode + cube + HLL, plain Python   {a:>10,.0f}   1.000")
    print(f"worker path: decode, fold, state, aggregates {w:>9,.0f}   {w / a:.3f}")


if __name__ == "__main__":
    main()
