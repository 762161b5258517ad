from datetime import UTC, datetime

import pytest

from schemas.aggregates import WindowAggregate, WindowAggregateCodec
from schemas.avro_schemas import link_click_schema, link_click_schemas
from schemas.codec import AvroCodec, LinkClickCodec
from schemas.errors import MalformedMessageError
from schemas.events import LinkClick

AGGREGATE = WindowAggregate(
    "minute", 60_000, 120_000, "link", "acct", "promo", 5, 2, {"DE": (3, 1), None: (2, 1)}
)


def test_aggregate_round_trip_and_record_splits() -> None:
    codec = WindowAggregateCodec()
    assert codec.decode(codec.encode(AGGREGATE)) == AGGREGATE
    record = AGGREGATE.to_record()
    assert (record["clicks"], record["human"], record["bot"]) == (5, 3, 2)
    assert record["countries"][1] == {"country": None, "clicks": 2, "human": 1, "bot": 1}


def test_aggregate_key_names_window_and_link() -> None:
    assert AGGREGATE.key == b"minute|60000|link"


def test_aggregate_codec_rejects_click_messages() -> None:
    click = LinkClick("l", "a", "https://x.example/", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(Exception, match="unknown writer schema"):
        WindowAggregateCodec().decode(LinkClickCodec().encode(click))
    with pytest.raises(MalformedMessageError):
        WindowAggregateCodec().decode(b"junk")


def test_raw_decoding_keeps_timestamps_as_epoch_millis() -> None:
    click = LinkClick("l", "a", "https://x.example/", datetime(2026, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC))
    raw = AvroCodec(link_click_schema(), known_schemas=link_click_schemas(), logical_types=False)
    record = raw.decode(LinkClickCodec().encode(click))
    assert record["timestamp"] == 1_767_225_601_500
    assert record["type"] == "LINK_CLICK"
