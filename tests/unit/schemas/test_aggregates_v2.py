"""The aggregate topic's v2 wire format: golden bytes, round trips, and v1 <-> v2 evolution."""

from schemas.aggregates import DIMENSIONS, WindowAggregate, WindowAggregateCodec
from schemas.avro_schemas import load_schema
from schemas.codec import schema_fingerprint

CELL = ("DE", "EU", "unknown", "unknown", "mobile", "Chrome Mobile", "Android", "t.co", "DE", "https://x.de/")
BARE = ("unknown",) * 7 + ("direct", "default", "https://x/")
AGGREGATE = WindowAggregate(
    "minute",
    60_000,
    120_000,
    "link",
    "acct",
    "promo",
    5,
    2,
    {"DE": (3, 1), None: (2, 1)},
    {CELL: (3, 1), BARE: (2, 1)},
    b"hll-people",
    b"hll-bots",
)
V2_FINGERPRINT = bytes.fromhex("992bedee80f96cfa")
V1_FINGERPRINT = bytes.fromhex("76a1d7de841bfb65")


def _golden() -> bytes:
    # The v1 part is unchanged; cells and sketches follow.
    text = (
        "c301992bedee80f96cfa0c6d696e757465c0a90780d30e086c696e6b0861636374020a70726f6d6f0a060404020444450604"
        "020004020200040444450445550e756e6b6e6f776e0e756e6b6e6f776e0c6d6f62696c651a4368726f6d65204d6f62696c"
        "650e416e64726f696408742e636f0444451a68747470733a2f2f782e64652f06020e756e6b6e6f776e0e756e6b6e6f776e0e"
        "756e6b6e6f776e0e756e6b6e6f776e0e756e6b6e6f776e0e756e6b6e6f776e0e756e6b6e6f776e0c6469726563740e6465"
        "6661756c741468747470733a2f2f782f0402001468"
        "6c6c2d70656f706c6510686c6c2d626f7473"
    )
    return bytes.fromhex(text)


def test_fingerprints_are_pinned() -> None:
    assert schema_fingerprint(load_schema("window_aggregate.v2.avsc")) == V2_FINGERPRINT
    assert schema_fingerprint(load_schema("window_aggregate.v1.avsc")) == V1_FINGERPRINT


def test_pinned_aggregate_encodes_to_golden_bytes_and_back() -> None:
    assert WindowAggregateCodec(version=2).encode(AGGREGATE) == _golden()
    assert WindowAggregateCodec().decode(_golden()) == AGGREGATE  # read as v3: revision 0


def test_cells_are_named_by_dimension() -> None:
    record = AGGREGATE.to_record()
    assert record["cells"][0] == {**dict(zip(DIMENSIONS, CELL, strict=True)), "clicks": 3, "bot": 1}
    assert (record["uniques_human"], record["uniques_bot"]) == (b"hll-people", b"hll-bots")


def test_a_v2_reader_decodes_v1_messages_without_cells_or_sketches() -> None:
    v1 = WindowAggregateCodec(version=1).encode(AGGREGATE)
    assert v1[2:10] == V1_FINGERPRINT
    decoded = WindowAggregateCodec().decode(v1)
    assert decoded.countries == AGGREGATE.countries
    assert (decoded.cells, decoded.humans, decoded.bots) == ({}, b"", b"")


def test_a_v1_reader_decodes_v2_messages() -> None:
    from schemas.codec import AvroCodec

    v1 = load_schema("window_aggregate.v1.avsc")
    v2 = load_schema("window_aggregate.v2.avsc")
    reader = AvroCodec(v1, known_schemas=[v2])
    record = reader.decode(WindowAggregateCodec(version=2).encode(AGGREGATE))
    assert "cells" not in record
    assert (record["clicks"], record["bot"], len(record["countries"])) == (5, 2, 2)


def test_real_sketch_bytes_round_trip() -> None:
    from stream_app.sketches import Uniques

    people = Uniques()
    people.add_all(range(100))
    aggregate = WindowAggregate(
        "hour", 0, 3_600_000, "l", "a", None, 1, 0, {None: (1, 0)}, {BARE: (1, 0)}, people.to_bytes()
    )
    decoded = WindowAggregateCodec().decode(WindowAggregateCodec().encode(aggregate))
    assert round(Uniques.from_bytes(decoded.humans).estimate()) == 100
