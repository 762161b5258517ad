"""Sending a round of records to one topic as one batch per partition, and telling apart what came of each.

A round ends with every record in one of three piles: delivered (acknowledged), refused (the broker will
never take it: too large, corrupt, invalid timestamp...), or undelivered (the broker did not take it now:
down, timing out; send it again later). Kafka takes or refuses a batch whole, so when a batch of several
records is refused, each of its records is sent again on its own, to find the one it refused: its batch
mates are delivered once, never re-sent after they were acknowledged.

aiokafka gives up on a batch after its request timeout only while the partition has no known leader: when
the leader is known but cannot be reached (a single broker that is down), the batch waits for it, however
long. So a round waits at most ``wait_seconds``; what is unanswered by then is undelivered and the round is
``stuck``: the producer still holds those records, and the caller abandons it (``abandon``) before their
records go anywhere else, so they are not sent twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)

Record = tuple[bytes, bytes]  # (key, value)

REFUSED_ERRORS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
)
"""Errors by which the broker refuses a batch for what is in it: sending it again cannot help. (Kafka's
INVALID_RECORD, code 87, reaches aiokafka 0.14 as UnknownError, which cannot be told from other failures: it
is treated as undelivered.)"""


@dataclass(slots=True)
class Delivery:
    """What became of a round of records."""

    delivered: int = 0
    refused: list[tuple[Record, KafkaError]] = field(default_factory=list)
    undelivered: list[Record] = field(default_factory=list)
    error: KafkaError | None = None  # why records are undelivered (the first such error)
    stuck: bool = False  # the producer still holds undelivered records: abandon it before sending them again


@dataclass(slots=True)
class _Chunk:
    partition: int
    records: list[Record]


async def deliver(
    producer: AIOKafkaProducer,
    topic: str,
    records: Sequence[Record],
    partition_of: Callable[[bytes, list[int]], int],
    wait_seconds: float | None = None,
) -> Delivery:
    """Send ``records`` keyed by ``partition_of(key, partitions)``, one batch per partition (in order
    within it), wait for every acknowledgement (at most ``wait_seconds``), and sort each record into a pile.
    Never raises KafkaError."""
    outcome = Delivery()
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    try:
        partitions = sorted(await producer.partitions_for(topic))
    except KafkaError as exc:
        outcome.undelivered, outcome.error = list(records), exc
        return outcome
    by_partition: dict[int, list[Record]] = {}
    for record in records:
        by_partition.setdefault(partition_of(record[0], partitions), []).append(record)
    todo = [_Chunk(partition, chunk) for partition, chunk in by_partition.items()]
    while todo:
        retry: list[_Chunk] = []
        for chunk, error in await _send_chunks(producer, topic, todo, deadline):
            if isinstance(error, _Unanswered):
                outcome.stuck = True
            if error is None:
                outcome.delivered += len(chunk.records)
            elif isinstance(error, REFUSED_ERRORS) and len(chunk.records) > 1:
                retry += [_Chunk(chunk.partition, [record]) for record in chunk.records]
            elif isinstance(error, REFUSED_ERRORS):
                outcome.refused.append((chunk.records[0], error))
            else:
                outcome.undelivered += chunk.records
                outcome.error = outcome.error or error
        todo = retry
    return outcome


class _Unanswered(KafkaTimeoutError):  # type: ignore[misc]
    """The broker did not answer for a batch in time; the producer still holds it."""


async def abandon(producer: AIOKafkaProducer) -> None:
    """Close ``producer`` at once, never sending the records it still holds (the caller spools them).

    aiokafka has no such call: its ``stop`` waits until they are delivered. So this stops its sender task
    and fails what its accumulator holds (``Sender.close``, ``MessageAccumulator.fail_all``: aiokafka
    internals, checked by tests/unit/producer/test_delivery.py), after which ``stop`` only disconnects.
    """
    await producer._sender.close()
    producer._message_accumulator.fail_all(KafkaTimeoutError("abandoned: its records were spooled"))
    await producer.stop()


async def _send_chunks(
    producer: AIOKafkaProducer, topic: str, chunks: list[_Chunk], deadline: float | None
) -> list[tuple[_Chunk, KafkaError | None]]:
    """Send each chunk as one batch or more (a full batch starts another); return each batch's records
    with its error (None: acknowledged; ``_Unanswered``: no answer by the deadline). After a send that
    raises, the rest are not tried."""
    sent: list[tuple[_Chunk, asyncio.Future[object] | None, KafkaError | None]] = []
    failure: KafkaError | None = None
    for chunk in chunks:
        for batch_records, batch in _batches(producer, chunk.records):
            part = _Chunk(chunk.partition, batch_records)
            if failure is not None:
                sent.append((part, None, failure))
                continue
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    future = await producer.send_batch(batch, topic, partition=chunk.partition)
            except TimeoutError:
                failure = _Unanswered("no room in the producer's buffer before the deadline")
                sent.append((part, None, failure))
            except KafkaError as exc:
                failure = exc
                sent.append((part, None, exc))
            else:
                sent.append((part, future, None))
    futures = [future for _, future, _ in sent if future is not None]
    if futures:
        await asyncio.wait(
            futures, timeout=None if deadline is None else max(0.0, deadline - time.monotonic())
        )
    outcome: list[tuple[_Chunk, KafkaError | None]] = []
    for part, future, error in sent:
        if future is not None:
            if not future.done():
                error = _Unanswered("the broker did not answer in time")
            elif future.exception() is not None:
                result = future.exception()
                if not isinstance(result, KafkaError):
                    raise result  # type: ignore[misc]
                error = result
        outcome.append((part, error))
    return outcome


def _loop_time(deadline: float | None) -> float | None:
    """A ``time.monotonic`` deadline on the running loop's clock."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


def _batches(producer: AIOKafkaProducer, records: list[Record]) -> list[tuple[list[Record], object]]:
    """Split ``records`` into as few batches as aiokafka's batch size allows (a batch always takes its
    first record, however large)."""
    batches: list[tuple[list[Record], object]] = []
    batch, taken = producer.create_batch(), list[Record]()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            batches.append((taken, batch))
            batch, taken = producer.create_batch(), []
            batch.append(key=key, value=value, timestamp=None)
        taken.append((key, value))
    batches.append((taken, batch))
    return batches
