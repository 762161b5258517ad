"""Fails when the faust-streaming internals that stream_app.faust_internals relies on change."""

import asyncio
import hashlib
import inspect
from collections import defaultdict
from types import SimpleNamespace

import faust
from aiokafka import TopicPartition
from aiokafka.errors import ProducerFenced
from aiokafka.producer.transaction_manager import TransactionManager
from faust import streams
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.transport.consumer import TransactionManager as FaustTransactions
from faust.transport.producer import ProducerBuffer
from faust.types import TP

from stream_app import faust_internals
from stream_app.faust_internals import PINNED_FAUST_VERSION, check_version, partition_context
from stream_app.settings import WorkerSettings

# sha256 of the source of faust 0.15.3's Consumer._drain_messages, which _drain_messages_with_tap copies.
DRAIN_MESSAGES_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


def test_faust_is_the_pinned_version() -> None:
    assert faust.__version__ == PINNED_FAUST_VERSION
    check_version()


def test_the_drain_loop_the_tap_copies_is_unchanged() -> None:
    from stream_app import faust_internals

    original = faust_internals._original_drain_messages
    digest = hashlib.sha256(inspect.getsource(original).encode()).hexdigest()
    assert digest == DRAIN_MESSAGES_SHA256


def test_consumer_has_what_the_tap_uses() -> None:
    for name in ("ack", "commit", "_add_gap", "wait_first", "getmany", "track_message"):
        assert hasattr(Consumer, name), name
    assert CONSUMER_FETCHING == "FETCHING"


def test_partition_context_sets_and_restores_the_current_event() -> None:
    from stream_app.app import create_app

    app = create_app(WorkerSettings())
    assert streams.current_event() is None
    with partition_context(app, "link-clicks", 3):
        event = streams.current_event()
        assert event is not None
        assert (event.message.topic, event.message.partition) == ("link-clicks", 3)
    assert streams.current_event() is None


def test_tables_read_the_partition_from_the_current_event() -> None:
    from faust.tables.base import Collection

    assert "current_event()" in inspect.getsource(Collection.partition_for_key)
    from faust.stores.rocksdb import Store

    assert "current_event()" in inspect.getsource(Store._set)


class _SlowChannel:
    """A channel whose driver takes ``seconds`` to accept each message (a full aiokafka batch does)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.published: list[object] = []

    async def publish_message(self, fut: object, wait: bool = False) -> None:
        await asyncio.sleep(self.seconds)
        self.published.append(fut)


def _buffered(channel: _SlowChannel) -> object:
    return SimpleNamespace(message=SimpleNamespace(channel=channel))


async def _started_buffer() -> ProducerBuffer:
    from stream_app.app import create_app  # installs the full flush

    buffer = ProducerBuffer()
    buffer.app = create_app(WorkerSettings())
    await buffer.start()
    return buffer


async def test_flush_returns_only_when_every_buffered_message_is_in_the_driver() -> None:
    buffer = await _started_buffer()
    channel = _SlowChannel(0.25)
    sent = [_buffered(channel) for _ in range(3)]
    try:
        for fut in sent:
            buffer.put(fut)  # type: ignore[arg-type]
        await buffer.flush()
        assert channel.published == sent
    finally:
        await buffer.stop()


async def test_an_exactly_once_commit_sends_the_buffered_table_writes_before_committing() -> None:
    buffer = await _started_buffer()
    channel = _SlowChannel(0.1)
    written = [_buffered(channel) for _ in range(3)]
    committed_with: list[list[object]] = []

    async def commit_transactions(*args: object, **kwargs: object) -> None:
        committed_with.append(list(channel.published))

    producer = SimpleNamespace(buffer=buffer, commit_transactions=commit_transactions)
    manager = FaustTransactions.__new__(FaustTransactions)  # only what commit reads is set
    manager.app = SimpleNamespace(  # type: ignore[assignment]
        producer=producer, conf=SimpleNamespace(id="app"), assignor=_OneGroup()
    )
    manager.producer = producer  # type: ignore[assignment]
    try:
        for fut in written:
            buffer.put(fut)  # type: ignore[arg-type]
        assert await manager.commit({TP("link-clicks", 0): 10})
        assert committed_with == [written]
    finally:
        await buffer.stop()


class _OneGroup:
    def group_for_topic(self, topic: str) -> int:
        return 0


async def test_fausts_own_flush_still_gives_up_on_a_slow_message() -> None:
    # Why install_full_flush exists: when this fails, Faust's flush waits by itself and the patch can go.
    buffer = await _started_buffer()
    channel = _SlowChannel(0.25)
    try:
        for _ in range(3):
            buffer.put(_buffered(channel))  # type: ignore[arg-type]
        await faust_internals._original_flush(buffer)
        assert len(channel.published) < 3
        await buffer.flush()
    finally:
        await buffer.stop()


async def test_a_rebalance_waits_for_the_tapped_batch_being_processed() -> None:
    from stream_app.app import create_app

    consumer = create_app(WorkerSettings()).consumer
    with faust_internals._in_flight(consumer, TP("link-clicks", 0)):
        rebalance_wait = asyncio.ensure_future(consumer.wait_empty())
        await asyncio.sleep(0.3)
        assert not rebalance_wait.done()
    await asyncio.wait_for(rebalance_wait, 5)
    assert not consumer._unacked_messages


def test_recovery_is_not_complete_from_a_rebalances_start_to_the_recovery_after_it() -> None:
    from stream_app.app import create_app

    app = create_app(WorkerSettings())
    app.tables.recovery.completed.set()
    assert faust_internals.recovery_completed(app)
    app.on_rebalance_start()  # partitions are being revoked: the recovery flag is still the last one's
    assert not faust_internals.recovery_completed(app)
    app.on_rebalance_end()  # what the recovery calls once the new assignment's state is recovered
    assert faust_internals.recovery_completed(app)


class _SeekingConsumer:
    """The parts of Faust's consumer that ``_rewind`` uses."""

    def __init__(self, assigned: set[TP], committed: dict[TP, int]) -> None:
        self._assigned = assigned
        self._committed_offset = committed
        self.seeks: list[tuple[TP, int]] = []
        self.log = SimpleNamespace(warning=lambda *args: self.seeks.append(("warning", args)))  # type: ignore[arg-type]

    def assignment(self) -> set[TP]:
        return self._assigned

    async def seek(self, tp: TP, offset: int) -> None:
        if tp.partition == 9:
            raise RuntimeError("revoked meanwhile")
        self.seeks.append((tp, offset))


async def test_dropped_records_are_read_again_from_the_commit_or_where_the_drop_began() -> None:
    never_committed, committed, given_away = TP("clicks", 1), TP("clicks", 2), TP("clicks", 3)
    consumer = _SeekingConsumer({never_committed, committed}, {committed: 500})
    # A fetch came back while the flow was stopped or the partitions paused: its records were not read.
    await faust_internals._rewind(consumer, {never_committed: 0, committed: 900, given_away: 40})
    assert consumer.seeks == [(never_committed, 0), (committed, 500)]


async def test_a_rewind_that_fails_is_logged_not_raised() -> None:
    revoked = TP("clicks", 9)
    consumer = _SeekingConsumer({revoked}, {})
    await faust_internals._rewind(consumer, {revoked: 7})
    assert consumer.seeks[0][0] == "warning"


class _ReadingConsumer(_SeekingConsumer):
    """The parts of Faust's consumer that ``_unread`` uses, for a partition nothing was read of."""

    def __init__(self, tp: TP, earliest: int) -> None:
        super().__init__({tp}, defaultdict(lambda: None))
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._earliest = {tp: earliest}

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self._earliest[tp] for tp in partitions}


def _records(first: int, count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=offset) for offset in range(first, first + count)]


async def test_a_partition_nothing_was_read_of_starting_late_is_read_again_from_its_start() -> None:
    tp = TP("clicks", 1)
    consumer = _ReadingConsumer(tp, earliest=0)
    assert await faust_internals._unread(consumer, tp, _records(12_158, 5)) == []
    assert consumer.seeks[-1] == (tp, 0)


async def test_a_partition_starting_at_its_earliest_offset_is_read() -> None:
    tp = TP("clicks", 1)
    consumer = _ReadingConsumer(tp, earliest=500)  # older records deleted by retention
    records = _records(500, 5)
    assert await faust_internals._unread(consumer, tp, records) == records
    assert consumer.seeks == []


class _Transactional:
    """A transactional producer as QuietTransactions drives it, over aiokafka's real TransactionManager."""

    def __init__(self, transactional_id: str, *, fenced: bool = False) -> None:
        self._txn_manager = TransactionManager(transactional_id, 60_000)
        self._txn_manager.set_pid_and_epoch(1, 0)
        self._txn_manager.begin_transaction()
        self.fenced = fenced
        self.commits = 0

    def write(self, partition: int = 0) -> None:
        self._txn_manager.maybe_add_partition_to_txn(TopicPartition("rows-changelog", partition))

    async def commit_transaction(self) -> None:
        if self.fenced:
            raise ProducerFenced()
        self._txn_manager.committing_transaction()
        for tp in list(self._txn_manager.partitions_to_add()):
            self._txn_manager.partition_added(tp)
        self._txn_manager.complete_transaction()
        self.commits += 1

    async def begin_transaction(self) -> None:
        self._txn_manager.begin_transaction()


def _exactly_once_app(*transactions: _Transactional) -> SimpleNamespace:
    from stream_app.app import create_app

    consumer = create_app(WorkerSettings()).consumer  # Faust's, for its commit exclusion
    crashes: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashes.append(exc)

    producer = SimpleNamespace(
        _transaction_producers={t._txn_manager.transactional_id: t for t in transactions},
        _trn_locks=defaultdict(asyncio.Lock),
    )
    return SimpleNamespace(
        in_transaction=True,
        rebalancing=False,
        conf=SimpleNamespace(id="app"),
        assignor=SimpleNamespace(group_for_topic=lambda topic: 1),
        consumer=consumer,
        producer=producer,
        crash=crash,
        crashes=crashes,
    )


async def _seen_open_once(
    transaction: _Transactional,
) -> tuple[_Transactional, SimpleNamespace, faust_internals.QuietTransactions]:
    """``transaction`` with a write in it, in an exactly-once app whose QuietTransactions has seen it open
    once."""
    app = _exactly_once_app(transaction)
    quiet = faust_internals.QuietTransactions(app)  # type: ignore[arg-type]
    transaction.write()
    assert await quiet.commit() == []
    return transaction, app, quiet


async def test_a_transaction_holding_writes_across_two_commit_intervals_is_committed() -> None:
    quiet_writes, empty, busy = (
        _Transactional("app-1-0"),
        _Transactional("app-1-1"),
        _Transactional("app-1-2"),
    )
    app = _exactly_once_app(quiet_writes, empty, busy)
    quiet = faust_internals.QuietTransactions(app)  # type: ignore[arg-type]
    quiet_writes.write()
    busy.write()
    assert await quiet.commit() == []  # seen open once: Faust's commit may still cover it
    await busy.commit_transaction()  # Faust's commit, with the partition's offsets
    await busy.begin_transaction()
    busy.write()
    assert await quiet.commit() == ["app-1-0"]
    assert (quiet_writes.commits, empty.commits, busy.commits) == (1, 0, 1)
    assert quiet_writes._txn_manager.is_in_transaction()  # the next transaction is begun
    assert await quiet.commit() == ["app-1-2"]  # busy's second transaction, left open since


async def test_a_partition_with_reads_to_commit_is_left_to_fausts_commit() -> None:
    reading, quiet_writes = _Transactional("app-1-0"), _Transactional("app-1-1")
    app = _exactly_once_app(reading, quiet_writes)
    quiet = faust_internals.QuietTransactions(app)  # type: ignore[arg-type]
    reading.write()
    quiet_writes.write()
    app.consumer._acked[TP("link-clicks", 0)].extend([41, 42])  # acked, not committed yet
    await quiet.commit()
    assert await quiet.commit() == ["app-1-1"]
    assert reading.commits == 0


async def test_no_quiet_transaction_is_committed_while_a_batch_is_processed() -> None:
    _, app, quiet = await _seen_open_once(_Transactional("app-1-0"))
    with faust_internals._in_flight(app.consumer, TP("link-clicks", 0)):
        assert await quiet.commit() == []
    assert await quiet.commit() == ["app-1-0"]


async def test_quiet_transactions_wait_for_a_commit_of_fausts_in_progress() -> None:
    transaction, app, quiet = await _seen_open_once(_Transactional("app-1-0"))
    app.consumer._commit_fut = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(quiet.commit())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    fausts, app.consumer._commit_fut = app.consumer._commit_fut, None  # as Consumer.commit ends
    fausts.set_result(None)
    assert await waiting == []  # Faust's commit ran in between: look again next time
    assert transaction.commits == 0
    assert await quiet.commit() == ["app-1-0"]


async def test_quiet_transactions_leave_a_rebalance_to_commit_and_hand_over() -> None:
    transaction, app, quiet = await _seen_open_once(_Transactional("app-1-0"))
    app.rebalancing = True
    assert await quiet.commit() == []
    assert transaction.commits == 0


async def test_a_fenced_quiet_transaction_crashes_the_worker_as_fausts_commit_does() -> None:
    _, app, quiet = await _seen_open_once(_Transactional("app-1-0", fenced=True))
    assert await quiet.commit() == []
    assert [type(exc) for exc in app.crashes] == [ProducerFenced]
    assert app.consumer._commit_fut is None  # Faust's commits are not left waiting


async def test_at_least_once_workers_have_no_quiet_transactions() -> None:
    transaction = _Transactional("app-1-0")
    app = _exactly_once_app(transaction)
    app.in_transaction = False
    quiet = faust_internals.QuietTransactions(app)  # type: ignore[arg-type]
    transaction.write()
    assert await quiet.commit() == await quiet.commit() == []
