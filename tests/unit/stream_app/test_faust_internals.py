"""Fails when the faust-streaming internals that stream_app.faust_internals relies on change."""

import hashlib
import inspect

import faust
from faust import streams
from faust.transport.consumer import CONSUMER_FETCHING, Consumer

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
