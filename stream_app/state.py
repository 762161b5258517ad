"""The worker's partitions: one ``PartitionEngine`` per owned source partition, over the Faust table.

The table holds its values as bytes (``ROW_TABLE_OPTIONS``) that ``TableRowStore`` encodes once, with
orjson: through Faust's JSON serializer each write was encoded twice, for RocksDB and for the changelog.
The bytes are the JSON Faust wrote before, so state written by either reads back in both.

A value whose JSON is larger than ``COMPRESS_ABOVE`` is stored zlib-compressed, behind ``COMPRESSED`` (a byte
no JSON text starts with). Each value is one changelog message, and Kafka refuses messages over 1 MiB (the
producer's ``max_request_size``, the topic's ``max.message.bytes``): a day row's base, or one large fetch's
segment, holds thousands of cells and passed that on Kafka, which crashed the worker. Cell JSON repeats its
dimension values, so it shrinks several times.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import faust
import orjson
from faust.types import TableT

from stream_app.aggregation import MAX_CELLS
from stream_app.engine import Output, PartitionEngine
from stream_app.faust_internals import generation, partition_context, recovery_completed
from stream_app.windows import Granularity

ROW_TABLE_OPTIONS: dict[str, Any] = {"value_type": bytes}
"""Options of the Faust table under ``TableRowStore``: bytes values pass through Faust (its "raw" codec)."""


COMPRESS_ABOVE = 64 * 1024
"""Values whose JSON is larger (bytes) are stored compressed."""
COMPRESSED = b"Z"
"""The first byte of a compressed value."""


def encode_value(value: Any) -> bytes:
    """A row store value as the table's bytes: JSON, compressed when large."""
    data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    if len(data) > COMPRESS_ABOVE:
        return COMPRESSED + zlib.compress(data, 1)
    return data


def decode_value(data: bytes) -> Any:
    """The value in the table's bytes (``encode_value``'s, or plain JSON as stored before compression)."""
    if data[:1] == COMPRESSED:
        data = zlib.decompress(data[1:])
    return orjson.loads(data)


def _now_ms() -> int:
    return int(time.time() * 1000)


class TableRowStore:
    """A RowStore over a Faust table of JSON bytes (``ROW_TABLE_OPTIONS``); use it inside
    ``partition_context`` of the row's partition."""

    def __init__(self, table: TableT[str, bytes]) -> None:
        self._table = table
        # The value last stored and its bytes: a batch stores one segment object under the rows of each of
        # its windows that hold the same clicks (``stream_app.rows.encode_delta``), encoded once here.
        self._last: tuple[Any, bytes] | None = None

    def get(self, key: str) -> Any | None:
        """Return the value under ``key``, or None."""
        data = self._table.get(key)
        return None if data is None else decode_value(data)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (and send it to the table's changelog)."""
        last = self._last
        if last is None or last[0] is not value:
            last = self._last = (value, encode_value(value))
        self._table[key] = last[1]

    def delete(self, key: str) -> None:
        """Delete ``key`` (a changelog tombstone)."""
        if key in self._table:
            del self._table[key]


class Partitions:
    """The engines of the source partitions this worker owns, created after recovery, dropped on revoke.

    ``clock`` returns the wall clock in epoch milliseconds, used when a call passes no ``wall_ms``.
    """

    def __init__(
        self,
        app: faust.App,
        table: TableT[str, bytes],
        topic: str,
        granularities: Sequence[Granularity],
        *,
        grace_ms: int,
        idle_ms: int,
        buckets: int,
        max_skew_ms: int,
        max_cells: int = MAX_CELLS,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._app = app
        self._clock = clock
        self._store = TableRowStore(table)
        self._topic = topic
        self.granularities = tuple(granularities)
        self._grace_ms = grace_ms
        self._idle_ms = idle_ms
        self._max_skew_ms = max_skew_ms
        self._max_cells = max_cells
        self._buckets = buckets
        self._engines: dict[int, PartitionEngine] = {}
        self._generation = -1

    def owned(self) -> list[int]:
        """Source partitions assigned to this worker now (empty until table recovery completes)."""
        if not recovery_completed(self._app):
            return []
        return sorted(tp.partition for tp in self._app.consumer.assignment() if tp.topic == self._topic)

    def process(
        self, partition: int, clicks: Sequence[Any], wall_ms: int | None = None, *, clock_ms: int | None
    ) -> Output:
        """Fold a batch of one partition's clicks into its state; ``clock_ms`` moves its watermark."""
        with partition_context(self._app, self._topic, partition):
            return self._engine(partition).process(
                clicks, self._clock() if wall_ms is None else wall_ms, clock_ms=clock_ms
            )

    def tick(self, wall_ms: int | None = None) -> Iterator[tuple[int, Output]]:
        """Advance idle partitions' watermarks; yield what each partition closed."""
        now = self._clock() if wall_ms is None else wall_ms
        for partition in self.owned():
            with partition_context(self._app, self._topic, partition):
                yield partition, self._engine(partition).tick(now)

    def mark_emitted(self, partition: int, output: Output) -> None:
        """Record that ``output``'s aggregates were sent (see ``PartitionEngine.mark_emitted``).

        Skipped when a rebalance came in between, or is under way: the engine that made ``output`` is gone
        (or the partition may be given away), and whichever engine owns the partition next finds those
        windows not emitted and sends them again.
        """
        engine = self._engines.get(partition)
        if engine is None or generation(self._app) != self._generation or not recovery_completed(self._app):
            return
        with partition_context(self._app, self._topic, partition):
            engine.mark_emitted(output)

    def engines(self) -> Iterator[tuple[int, PartitionEngine]]:
        """Yield (partition, engine) for owned partitions, each read inside its partition context."""
        for partition in self.owned():
            with partition_context(self._app, self._topic, partition):
                yield partition, self._engine(partition)

    def _engine(self, partition: int) -> PartitionEngine:
        if generation(self._app) != self._generation:
            # After a rebalance another worker may have owned a partition meanwhile: reload from the table.
            self._engines.clear()
            self._generation = generation(self._app)
        engine = self._engines.get(partition)
        if engine is None:
            engine = self._engines[partition] = PartitionEngine(
                partition,
                self._store,
                self.granularities,
                grace_ms=self._grace_ms,
                idle_ms=self._idle_ms,
                buckets=self._buckets,
                max_skew_ms=self._max_skew_ms,
                max_cells=self._max_cells,
            )
        return engine
