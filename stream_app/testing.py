"""In-memory stand-ins for the worker's I/O seams, for tests and demos: a row store, partitions, a send."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from stream_app.aggregation import MAX_CELLS, Click
from stream_app.engine import Output, PartitionEngine
from stream_app.processor import Headers
from stream_app.windows import DEFAULT_MAX_SKEW_MS, Granularity


class DictRowStore:
    """A ``RowStore`` in a dict; values are copied in, as a serialising store does; ``writes`` counts sets."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str) -> Any | None:
        """Return the value under ``key``, or None."""
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        """Store a copy of ``value``."""
        self.data[key] = copy.deepcopy(value)
        self.writes += 1

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self.data.pop(key, None)


class ChangelogStore(DictRowStore):
    """A ``DictRowStore`` that also keeps its writes in order, as the table's changelog does.

    A worker that takes a partition over holds what it recovered of that changelog: all of it on Kafka, a
    prefix after a crash mid-batch (or from a broker reporting a short log end, as the embedded one does).
    """

    def __init__(self) -> None:
        super().__init__()
        self.changelog: list[tuple[str, Any | None]] = []
        """(key, value) per write, None for a delete."""

    def set(self, key: str, value: Any) -> None:
        """Store a copy of ``value`` and log the write."""
        super().set(key, value)
        self.changelog.append((key, copy.deepcopy(value)))

    def delete(self, key: str) -> None:
        """Forget ``key`` and log the delete."""
        super().delete(key)
        self.changelog.append((key, None))

    def recover(self, records: int) -> DictRowStore:
        """Return the store rebuilt from the first ``records`` writes of the changelog."""
        store = DictRowStore()
        for key, value in self.changelog[:records]:
            if value is None:
                store.delete(key)
            else:
                store.set(key, value)
        return store


class InMemoryPartitions:
    """A ``PartitionSet`` owning ``owned`` partitions whose rows live in one ``DictRowStore``.

    A new instance over the same store is a restarted worker: its engines load what the store holds.
    """

    def __init__(
        self,
        store: DictRowStore,
        granularities: Sequence[Granularity],
        *,
        owned: Sequence[int] = (0,),
        grace_ms: int = 0,
        idle_ms: int = 60_000,
        buckets: int = 4,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        max_cells: int = MAX_CELLS,
        clock: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.granularities = tuple(granularities)
        self._clock = clock
        self._engines = {
            partition: PartitionEngine(
                partition,
                store,
                self.granularities,
                grace_ms=grace_ms,
                idle_ms=idle_ms,
                buckets=buckets,
                max_skew_ms=max_skew_ms,
                max_cells=max_cells,
            )
            for partition in owned
        }

    def owned(self) -> list[int]:
        """The partitions this instance answers for."""
        return sorted(self._engines)

    def process(
        self, partition: int, clicks: Sequence[Click], wall_ms: int | None = None, *, clock_ms: int | None
    ) -> Output:
        """Fold a batch of one partition's clicks into its state; ``clock_ms`` moves its watermark."""
        return self._engines[partition].process(
            clicks, self._clock() if wall_ms is None else wall_ms, clock_ms=clock_ms
        )

    def tick(self, wall_ms: int | None = None) -> Iterator[tuple[int, Output]]:
        """Advance idle partitions' watermarks; yield what each partition closed."""
        now = self._clock() if wall_ms is None else wall_ms
        for partition, engine in sorted(self._engines.items()):
            yield partition, engine.tick(now)

    def mark_emitted(self, partition: int, output: Output) -> None:
        """Record that ``output``'s aggregates were sent."""
        self._engines[partition].mark_emitted(output)

    def engines(self) -> Iterator[tuple[int, PartitionEngine]]:
        """Yield (partition, engine) for the owned partitions."""
        yield from sorted(self._engines.items())


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message handed to ``InMemorySend``."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None

    def header(self, name: str) -> bytes | None:
        """Return the first header called ``name``, or None."""
        return next((value for key, value in self.headers or () if key == name), None)


class InMemorySend:
    """A ``Send`` that keeps messages in ``sent``, acknowledged at once or when the test says so.

    Args:
        fail_after: after this many messages, every send raises ``ConnectionError`` (a broker gone, or the
            worker dying mid-step); None never fails.
        hold_acks: acknowledge nothing until ``release()``; ``waiting`` is set once a message waits.
    """

    def __init__(self, *, fail_after: int | None = None, hold_acks: bool = False) -> None:
        self.sent: list[SentMessage] = []
        self.fail_after = fail_after
        self.hold_acks = hold_acks
        self.waiting = asyncio.Event()
        self._held: list[asyncio.Future[object]] = []

    def release(self) -> None:
        """Acknowledge every message held so far."""
        for ack in self._held:
            ack.set_result(None)
        self._held.clear()
        self.waiting.clear()

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None
    ) -> Awaitable[object]:
        """Keep the message; return its acknowledgement (done at once unless acks are held)."""
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError(f"InMemorySend: failing after {self.fail_after} messages")
        self.sent.append(SentMessage(topic, key, value, headers))
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.hold_acks:
            self._held.append(ack)
            self.waiting.set()
        else:
            ack.set_result(None)
        return ack

    def to(self, topic: str) -> list[SentMessage]:
        """The messages sent to ``topic``, in order."""
        return [message for message in self.sent if message.topic == topic]
