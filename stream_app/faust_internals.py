"""The few places clickpipe reaches under Faust's hood, in one module, pinned to one faust-streaming version.

- ``recovery_completed`` and ``generation``: whether table recovery has finished since the last rebalance
  (and no other has begun), and the consumer group generation (state read before a rebalance may be stale
  after it).
- ``take_events``: the batching stream method that ``StreamT`` does not declare.
- ``install_batch_tap``: Faust hands every message to streams one by one (a message object per record in
  ``Consumer.getmany``, a task pair per message in ``Consumer._drain_messages``, then conductor, channel,
  stream, event). For the click topic the worker wants whole fetches: the tap takes that topic's records,
  as aiokafka returned them, out of each fetch round, gives them to a batch handler, then acks them all at
  once so Faust commits as usual. Other topics (changelogs, replies) go the normal way. While the handler
  runs, a stand-in message sits among the consumer's unacked messages: a rebalance waits for it
  (``Consumer.wait_empty``) before it commits and hands the partitions over, as it waits for stream events.
- ``install_full_flush``: ``ProducerBuffer.flush`` (which a commit awaits before committing offsets) gives up
  when one buffered message takes over 0.1 s to reach the driver, which a full aiokafka batch does under load;
  the commit then covered table writes whose changelog messages were still in the buffer, and a crash lost
  them. The installed flush returns once every buffered message is in the driver. With
  ``processing_guarantee="exactly_once"`` Faust's commit (``TransactionManager.commit``) did not flush the
  buffer at all: the transaction committed the offsets while table writes they depend on were still
  buffered, so they went into the next transaction, which a crash aborted. A worker taking the partitions
  over then lost those clicks (up to 18,635 of 30,000 after one SIGKILL). The installed commit flushes first.
- ``_rewind``: records the tap fetched but could not read (the flow stopped, the partition paused, a new
  generation) are sought back to, so they are fetched again; Faust's own seek skips partitions with no
  committed offset, whose records were then lost.
- ``serve_only_our_routes``: with its ``web_*_enabled`` settings off, Faust still mounts its production index
  at ``/``; the worker's web server serves clickpipe's routes only.
- ``QuietTransactions``: with ``processing_guarantee="exactly_once"``, Faust commits a partition's transaction
  only together with new offsets of that partition. Table writes made outside processing (the tick closing
  an idle partition's windows) stayed in an open transaction until the partition read again; past the
  producer's transaction timeout (60 s) the broker aborted it, and the next commit crashed the worker with
  ``ProducerFenced``. ``QuietTransactions`` commits such transactions on Faust's commit timer.
- ``partition_context``: Faust tables choose the changelog partition (and the RocksDB store picks its
  per-partition database) from the *current event*. The worker writes rows once per batch and from a timer,
  outside per-event iteration, so it sets the current event to a stand-in event of the right partition.

``tests/unit/stream_app/test_faust_internals.py`` fails when these internals change.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import faust
from aiokafka.errors import ProducerFenced
from faust import streams
from faust.events import Event
from faust.transport.consumer import CONSUMER_FETCHING, TransactionManager
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.producer import ProducerBuffer
from faust.types import EventT, StreamT
from faust.types.tuples import Message, ack_lock
from mode.utils.futures import notify

PINNED_FAUST_VERSION = "0.15.3"


def check_version() -> None:
    """Raise RuntimeError when the installed faust-streaming is not the version these internals match."""
    if faust.__version__ != PINNED_FAUST_VERSION:
        raise RuntimeError(
            f"stream_app.faust_internals is written for faust-streaming {PINNED_FAUST_VERSION}, "
            f"found {faust.__version__}: re-check it and its tests before moving the pin"
        )


def _stand_in(topic: str, partition: int) -> Message:
    """A message of ``partition`` of ``topic`` that stands for no record (offset -1, no key or value)."""
    return Message(
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


@contextmanager
def partition_context(app: faust.App, topic: str, partition: int) -> Iterator[None]:
    """Within the block, table reads and writes belong to ``partition`` of ``topic``."""
    event = Event(app, None, None, [], _stand_in(topic, partition))
    token = streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        streams._current_event.reset(token)


def serve_only_our_routes(app: faust.App) -> None:
    """Mount none of Faust's built-in web blueprints (router, tables, graph, statistics, index)."""
    cast(Any, app.web).blueprints._enabled.clear()


def recovery_completed(app: faust.App) -> bool:
    """True once the tables have recovered their state for the current assignment, and no rebalance has
    begun since: from a rebalance's start (partitions being revoked) to the end of the recovery after it,
    the worker may be about to give partitions away, and its state of them may be about to change."""
    return bool(cast(Any, app.tables).recovery.completed.is_set()) and not app.rebalancing


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


SourceRecord = Any
"""A record of the tapped topic as aiokafka returns it (``topic``, ``partition``, ``offset``, ``key``,
``value``, ``timestamp`` in epoch ms: what ``stream_app.processor.SourceMessage`` reads)."""

BatchHandler = Callable[[list[SourceRecord]], Awaitable[None]]
"""Processes one fetch round's records of the tapped topic, in offset order per partition."""

_original_drain_messages = FaustConsumer._drain_messages
_taps: weakref.WeakKeyDictionary[Any, tuple[str, BatchHandler]] = weakref.WeakKeyDictionary()


def install_batch_tap(app: faust.App, topic: str, handler: BatchHandler) -> None:
    """Deliver ``topic``'s messages of ``app`` to ``handler`` a fetch at a time, bypassing its streams.

    Keep an agent on ``topic`` all the same: Faust subscribes to, and co-partitions tables with, the topics
    its agents read.
    """
    _taps[app] = (topic, handler)
    if FaustConsumer._drain_messages is not _drain_messages_with_tap:
        FaustConsumer._drain_messages = _drain_messages_with_tap  # type: ignore[method-assign]


async def _drain_messages_with_tap(self: Any, fetcher: Any) -> None:  # pragma: no cover - run by Faust
    """``faust.transport.consumer.Consumer._drain_messages`` of 0.15.3 with its ``getmany`` inlined, plus the
    batch tap: the tapped topic's records go to the handler a partition list at a time, as aiokafka returned
    them (no Faust message per record), and are acked in bulk after it; other topics go the usual way."""
    tap = _taps.get(self.app)
    tapped_topic, handler = tap if tap is not None else (None, None)
    callback = self.callback
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    to_message = self._to_message
    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            # Consumer.getmany, without a message per record for the tapped topic.
            records, active_partitions = await self._wait_next_records(1.0)
            generation_id = self.app.consumer_generation_id
            await self.sleep(0)
            if records is None or self.should_stop:
                unset_flag(CONSUMER_FETCHING)
                continue
            if not self.flow_active:
                try:
                    await self.perform_seek()
                except Exception as exc:  # noqa: BLE001 - as Consumer.getmany does
                    self.log.warning(f"exception performing seek when flow not active {exc}")
                await _rewind(
                    self, {tp: recs[0].offset for tp, recs in records.items() if tp.topic == tapped_topic}
                )
                unset_flag(CONSUMER_FETCHING)
                continue
            tapped: list[SourceRecord] = []
            tapped_tps: list[tuple[Any, list[SourceRecord]]] = []
            dropped: dict[Any, int] = {}
            for tp, tp_records in records.items():
                if not self.flow_active or self.app.consumer_generation_id != generation_id:
                    taken = {taken_tp for taken_tp, _ in tapped_tps}
                    for rest_tp, rest in records.items():
                        if rest_tp.topic == tapped_topic and rest_tp not in taken and rest:
                            dropped[rest_tp] = rest[0].offset
                    break
                if not (
                    active_partitions is None or tp in active_partitions or tp in self._buffered_partitions
                ):
                    if tp.topic == tapped_topic:
                        dropped[tp] = tp_records[0].offset
                    continue
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                if tp.topic == tapped_topic:
                    fresh = await _unread(self, tp, tp_records)
                    if fresh:
                        tapped.extend(fresh)
                        tapped_tps.append((tp, fresh))
                        set_read_offset(tp, fresh[-1].offset)
                    continue
                for record in tp_records:
                    if not self.flow_active or self.app.consumer_generation_id != generation_id:
                        break
                    message = to_message(tp, record)
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
            if dropped:
                await _rewind(self, dropped)
            if tapped and handler is not None:
                with _in_flight(self, tapped_tps[0][0]):
                    await handler(tapped)
                    if acks_enabled_for(tapped_topic):
                        _ack_all(self, tapped_tps)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
            unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


async def _unread(consumer: Any, tp: Any, records: list[Any]) -> list[Any]:  # pragma: no cover - by Faust
    """The records of ``tp`` not read yet (at or after its read offset), gaps in their offsets recorded as
    the drain loop records them.

    A partition with nothing read or committed must start at its earliest offset. When its records start
    later, records were skipped (see ``_rewind``) and nothing would ever say so: Faust commits whatever
    follows. They are dropped, and the partition is sought back to its earliest offset.
    """
    r_offset = consumer._read_offset[tp]
    first = records[0].offset
    if r_offset is None and first > 0 and consumer._committed_offset[tp] is None:
        earliest = min((await consumer.earliest_offsets(tp)).values(), default=0)
        if first > earliest:
            consumer.log.warning(
                "%r: fetched from %d, its first unread offset is %d: reading it again", tp, first, earliest
            )
            await _rewind(consumer, {tp: earliest})
            return []
    if (r_offset is None or first >= r_offset) and records[-1].offset - first == len(records) - 1:
        # One run of consecutive offsets (the usual case): only a gap before it can exist.
        if r_offset and first - r_offset > 1 and consumer.app.topics.acks_enabled_for(tp.topic):
            await consumer._add_gap(tp, r_offset + 1, first)
        return records
    fresh = []
    for record in records:
        if r_offset is None or record.offset >= r_offset:
            if r_offset and record.offset - r_offset > 1 and consumer.app.topics.acks_enabled_for(tp.topic):
                await consumer._add_gap(tp, r_offset + 1, record.offset)
            fresh.append(record)
            r_offset = record.offset
    return fresh


async def _rewind(consumer: Any, dropped: dict[Any, int]) -> None:  # pragma: no cover - run by Faust
    """Seek partitions whose fetched records were dropped unread back to where reading must go on.

    ``dropped``: per partition, the first offset dropped. aiokafka's position has moved past the records it
    returned, and ``Consumer.perform_seek`` moves it back only for partitions with a committed offset: the
    records of a partition without one were skipped for good (a worker taking over a partition nobody had
    committed for, whose fetch came back while its recovery was resuming the partitions, started 12,158
    records in). Goes back to the committed offset when it is known and earlier (what lies between is
    read again; rows skip what they applied), else to the first record dropped. Partitions no longer
    assigned are left to their next owner.
    """
    assigned = consumer.assignment()
    for tp, first in dropped.items():
        if tp not in assigned:
            continue
        committed = consumer._committed_offset.get(tp)
        offset = committed if committed is not None and committed < first else first
        try:
            await consumer.seek(tp, offset)
        except Exception as exc:  # noqa: BLE001 - revoked meanwhile: its next owner reads from the commit
            consumer.log.warning("could not seek %r back to %r: %r", tp, offset, exc)


@contextmanager
def _in_flight(consumer: Any, tp: Any) -> Iterator[None]:  # pragma: no cover - run by Faust
    """Within the block, the consumer counts a message as being processed: a rebalance's ``wait_empty``
    waits for the block to end (the tapped records are not Faust messages, so it would not see them)."""
    stand_in = _stand_in(tp.topic, tp.partition)
    consumer._unacked_messages.add(stand_in)
    try:
        yield
    finally:
        stand_in.acked = True
        consumer._unacked_messages.discard(stand_in)
        notify(consumer._waiting_for_ack)


def _ack_all(consumer: Any, records: list[tuple[Any, list[Any]]]) -> None:  # pragma: no cover - by Faust
    """``Consumer.ack`` for every record of a processed fetch, at once: they become committable.

    ``records``: per partition, its ``TP`` as the fetch returned it (the consumer's bookkeeping is keyed by
    that object's type) and the records.
    """
    with ack_lock:
        try:
            for tp, tp_records in records:
                committed = consumer._committed_offset[tp]
                acked_index = consumer._acked_index[tp]
                new = [
                    record.offset
                    for record in tp_records
                    if (committed is None or record.offset >= committed) and record.offset not in acked_index
                ]
                acked_index.update(new)
                consumer._acked[tp].extend(new)
                consumer._n_acked += len(new)
        finally:
            notify(consumer._waiting_for_ack)


_original_send_pending = ProducerBuffer._send_pending
_original_flush = ProducerBuffer.flush
_sending: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
FLUSH_WARN_SECONDS = 10.0
"""A flush waiting this long logs a warning (and again as long again later)."""


_original_transactions_commit = TransactionManager.commit


def install_full_flush() -> None:
    """Make ``ProducerBuffer.flush`` return only once every buffered message is in the driver, and every
    commit, exactly-once ones included, flush it before committing."""
    ProducerBuffer._send_pending = _send_pending_counted  # type: ignore[method-assign]
    ProducerBuffer.flush = _flush_all  # type: ignore[method-assign]
    TransactionManager.commit = _flush_then_commit_transactions  # type: ignore[method-assign]


async def _flush_then_commit_transactions(
    self: Any, offsets: Any, start_new_transaction: bool = True
) -> bool:
    """``TransactionManager.commit``, after the producer buffer is flushed: the table writes made for the
    offsets committed are then in the transactions that commit them (the at-least-once commit flushes too)."""
    await self.app.producer.buffer.flush()
    return bool(await _original_transactions_commit(self, offsets, start_new_transaction))


async def _send_pending_counted(self: Any, fut: Any) -> None:
    """``ProducerBuffer._send_pending``, counting the message while the driver takes it (it has left the
    queue by then, so ``size`` no longer counts it)."""
    _sending[self] = _sending.get(self, 0) + 1
    try:
        await _original_send_pending(self, fut)
    finally:
        _sending[self] -= 1


async def _flush_all(self: Any) -> None:
    """``ProducerBuffer.flush`` without its 0.1 s give-up: wait while messages are queued or being handed
    to the driver. Raises RuntimeError, as the original, when the buffer stops with messages in it."""
    waited = 0.0
    while self.size or _sending.get(self, 0):
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)
        except TimeoutError:
            waited += 1.0
            if waited % FLUSH_WARN_SECONDS == 0:
                self.log.warning("producer flush waiting %.0f s for %d buffered messages", waited, self.size)


QUIET_COMMIT_TIMEOUT_SECONDS = 30.0
"""How long a quiet transaction's commit may take (half the transaction timeout) before it is left to the
next try: Faust's commits wait meanwhile."""


class QuietTransactions:
    """Commits the exactly-once transactions that hold writes no commit of Faust's is about to cover.

    Faust commits a partition's transaction only when the partition has read something since its last
    commit. Call ``commit`` on Faust's commit interval: a transaction found open, with records in it, at two
    calls in a row (Faust committed nothing of it in between) is committed, without offsets, and the next
    one begun, well within the producer's transaction timeout (aiokafka's default, 60 s), provided the
    partition has read nothing Faust has yet to commit and no batch is being processed: then Faust's own
    commit covers it. (Committing busy partitions' transactions this way lost counts when two exactly-once
    workers handed partitions over, in ``bench.stream --guarantee exactly_once --workers 2``.) The table
    writes it holds are then in the changelog for good.
    """

    def __init__(self, app: faust.App, *, timeout: float = QUIET_COMMIT_TIMEOUT_SECONDS) -> None:
        self._app = app
        self._timeout = timeout
        self._open: dict[str, object] = {}
        """Per transactional id, the transaction (aiokafka's waiter for its end) seen open last time."""

    async def commit(self) -> list[str]:
        """Commit the transactions open since the last call; return their transactional ids."""
        app = cast(Any, self._app)
        if not app.in_transaction or app.rebalancing:
            return []  # a rebalance commits, then stops or starts the producers itself
        consumer = app.consumer
        if await consumer.maybe_wait_for_commit_to_finish():
            return []  # Faust committed just now; look again next time
        busy = _reading(app)
        stale = [(tid, t) for tid, t in self._stale(app.producer._transaction_producers) if tid not in busy]
        if not stale:
            return []
        consumer._commit_fut = asyncio.Future()  # Faust's own commits wait for this one, as for each other
        committed: list[str] = []
        try:
            for transactional_id, transaction in stale:
                async with app.producer._trn_locks[transactional_id]:
                    if (
                        app.rebalancing
                        or app.producer._transaction_producers.get(transactional_id) is not transaction
                    ):
                        continue  # the partition is moving: the rebalance commits it
                    if not _holds_records(transaction):
                        continue  # committed meanwhile
                    try:
                        await asyncio.wait_for(transaction.commit_transaction(), self._timeout)
                    except TimeoutError:
                        app.log.warning(
                            "quiet transaction %s: no commit after %.0f s", transactional_id, self._timeout
                        )
                        continue
                    await transaction.begin_transaction()
                committed.append(transactional_id)
        except ProducerFenced as exc:  # another worker owns the partition now: stop, as Faust's commit does
            await app.crash(exc)
        finally:
            fut, consumer._commit_fut = consumer._commit_fut, None
            notify(fut)
        return committed

    def _stale(self, transactions: dict[str, Any]) -> list[tuple[str, Any]]:
        """The transactions holding records that were open, the same ones, at the last call."""
        seen, self._open = self._open, {}
        stale = []
        for transactional_id, transaction in list(transactions.items()):
            if not _holds_records(transaction):
                continue
            current = transaction._txn_manager._transaction_waiter  # a new future per transaction
            if seen.get(transactional_id) is current:
                stale.append((transactional_id, transaction))
            self._open[transactional_id] = current
        return stale


def _reading(app: Any) -> Container[str]:
    """The transactional ids whose partitions have read records Faust has not committed yet (its next
    commit covers their writes), or all of them while a batch is being processed."""
    consumer = app.consumer
    if consumer._unacked_messages:
        return _EVERY
    busy: set[str] = set()
    for tp, acked in consumer._acked.items():
        if acked:
            try:
                busy.add(f"{app.conf.id}-{app.assignor.group_for_topic(tp.topic)}-{tp.partition}")
            except KeyError:  # not a topic of the assignment's groups
                continue
    return busy


class _Every(Container[str]):
    """Contains everything."""

    def __contains__(self, item: object) -> bool:
        return True


_EVERY = _Every()


def _holds_records(transaction: Any) -> bool:
    """Whether aiokafka ``transaction`` (a transactional producer) is in a transaction with records in it."""
    manager = transaction._txn_manager
    return bool(manager.is_in_transaction()) and bool(manager.txn_partitions or manager.partitions_to_add())
