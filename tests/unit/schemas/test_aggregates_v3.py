"""The aggregate topic's v3 wire format: v2 and a revision, golden bytes, and evolution both ways."""

from dataclasses import replace

from schemas.aggregates import WindowAggregateCodec
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec, schema_fingerprint
from tests.unit.schemas.test_aggregates_v2 import AGGREGATE, V2_FINGERPRINT
from tests.unit.schemas.test_aggregates_v2 import _golden as v2_golden

REVISED = replace(AGGREGATE, revision=1_234_567)


def test_v3_is_the_v2_body_with_the_revision_after_it() -> None:
    v3 = WindowAggregateCodec().encode(REVISED)
    fingerprint = schema_fingerprint(load_schema("window_aggregate.v3.avsc"))
    assert v3[2:10] == fingerprint != V2_FINGERPRINT
    assert v3[10:] == v2_golden()[10:] + bytes.fromhex("8eda9601")  # zigzag varint of 1,234,567
    assert WindowAggregateCodec().decode(v3) == REVISED


def test_older_readers_decode_v3_and_v3_reads_their_messages_as_revision_0() -> None:
    v2 = load_schema("window_aggregate.v2.avsc")
    record = AvroCodec(v2, known_schemas=[load_schema("window_aggregate.v3.avsc")]).decode(
        WindowAggregateCodec().encode(REVISED)
    )
    assert "revision" not in record and record["clicks"] == AGGREGATE.clicks
    for version in (1, 2):
        old = WindowAggregateCodec(version=version).encode(REVISED)
        assert WindowAggregateCodec().decode(old).revision == 0
