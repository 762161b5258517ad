"""The specialised v3 writer against fastavro's: the same bytes for randomised aggregates."""

import io
import random

import pytest
from fastavro import schemaless_writer

from schemas.aggregate_writer import AggregateWriter
from schemas.aggregates import DIMENSIONS, WindowAggregate, WindowAggregateCodec
from schemas.avro_schemas import load_schema
from schemas.codec import prepare_schema
from schemas.errors import InvalidRecordError


def _fastavro(aggregate: WindowAggregate) -> bytes:
    schema = prepare_schema(load_schema("window_aggregate.v3.avsc"), logical_types=False)
    out = io.BytesIO()
    schemaless_writer(out, schema, aggregate.to_record())
    return out.getvalue()


def _random(rng: random.Random) -> WindowAggregate:
    words = ["", "DE", "unknown", "é中😀", "x" * 70, "y" * 200]
    cells = {
        tuple(rng.choice(words) + str(rng.randrange(3)) for _ in DIMENSIONS): (rng.randrange(10**9), 0)
        for _ in range(rng.choice([0, 1, 5, 70]))
    }
    clicks = rng.randrange(10**12)
    return WindowAggregate(
        rng.choice(["minute", "day"]),
        rng.randrange(-(2**40), 2**40),
        rng.randrange(2**41),
        rng.choice(words),
        rng.choice(words),
        rng.choice([None, *words]),
        clicks,
        rng.randrange(clicks + 1),
        {rng.choice([None, *words]): (rng.randrange(100), rng.randrange(5)) for _ in range(rng.randrange(4))},
        cells,
        bytes(rng.randrange(256) for _ in range(rng.choice([0, 8, 200]))),
        bytes(rng.randrange(256) for _ in range(rng.choice([0, 8]))),
        rng.choice([0, 1, rng.randrange(2**50)]),
    )


def test_it_writes_what_fastavro_writes() -> None:
    rng = random.Random(7)
    writer = AggregateWriter()
    for _ in range(500):
        aggregate = _random(rng)
        assert writer.body(aggregate) == _fastavro(aggregate)
        codec = WindowAggregateCodec()
        assert codec.decode(codec.encode(aggregate)) == aggregate


def test_a_cell_of_the_wrong_width_is_refused() -> None:
    aggregate = WindowAggregate("minute", 0, 1, "l", "a", None, 1, 0, {}, {("DE",): (1, 0)})
    with pytest.raises(InvalidRecordError):
        WindowAggregateCodec().encode(aggregate)
