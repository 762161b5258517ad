"""The worker's wiring: what the stock Faust agent hands the processor."""

from __future__ import annotations

from faust.types.tuples import Message

from stream_app.app import _kafka_record
from stream_app.processor import producer_clock


def test_a_faust_message_goes_on_with_its_timestamp_back_in_epoch_ms() -> None:
    # Faust turns a record's timestamp into seconds; the watermark needs the producer's clock in ms.
    message = Message("clicks", 3, 42, 1_796_000_400.123, 0, [], b"k", b"v", None, 1, 1)
    record = _kafka_record(message)
    assert (record.topic, record.partition, record.offset, record.key, record.value) == (
        "clicks", 3, 42, b"k", b"v",
    )  # fmt: skip
    assert record.timestamp == 1_796_000_400_123
    assert producer_clock([record]) == 1_796_000_400_123
