"""Unique-visitor sketches: estimates within the stated error, merging without double counting."""

import random

import pytest

from stream_app.sketches import RELATIVE_STANDARD_ERROR, Uniques, union


def keys(count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) - (1 << 63) for _ in range(count)]


@pytest.mark.parametrize("distinct", [0, 1, 10, 300, 5_000, 100_000])
def test_estimate_is_within_three_standard_errors_of_the_distinct_count(distinct):
    sketch = Uniques()
    visitors = keys(distinct, seed=distinct)
    for visitor in visitors + visitors[: distinct // 2]:  # repeat visits change nothing
        sketch.add(visitor)

    assert abs(sketch.estimate() - distinct) <= 3 * RELATIVE_STANDARD_ERROR * distinct + 1
    lower, upper = sketch.bounds(3)
    assert lower <= distinct <= upper


def test_merging_overlapping_sketches_counts_the_union_once():
    first, second = keys(20_000, seed=1), keys(20_000, seed=2)
    a, b = Uniques(), Uniques()
    for visitor in first:
        a.add(visitor)
    for visitor in first[:10_000] + second:
        b.add(visitor)

    a.merge(b)

    assert abs(a.estimate() - 40_000) <= 3 * RELATIVE_STANDARD_ERROR * 40_000
    assert abs(union([Uniques(), b]).estimate() - b.estimate()) < 1e-9


def test_bytes_round_trip_and_an_empty_union_is_empty():
    sketch = Uniques()
    for visitor in keys(1_000, seed=3):
        sketch.add(visitor)

    again = Uniques.from_bytes(sketch.to_bytes())

    assert again.estimate() == sketch.estimate()
    assert union([]).is_empty() and Uniques().is_empty() and not again.is_empty()
    assert len(sketch.to_bytes()) < 2_200
