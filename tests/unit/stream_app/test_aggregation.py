"""Rows as typed records, and their stored form."""

from __future__ import annotations

import orjson

from stream_app.aggregation import (
    DIMENSIONS,
    OTHER,
    Click,
    Counts,
    LinkCounts,
    Row,
    decode_row,
    dims,
    encode_row,
    overflow_cell,
    packed,
)
from stream_app.folding import Delta, merge
from stream_app.sketches import Uniques

DE = dims(country="DE", continent="EU", device="mobile", browser="Chrome", os="Android", url="https://x/")
NONE = dims()


def _uniques(*keys: int) -> Uniques:
    sketch = Uniques()
    sketch.add_all(keys)
    return sketch


def test_missing_dimension_values_have_names_so_every_cell_key_is_strings() -> None:
    assert dict(zip(DIMENSIONS, NONE, strict=True)) == {
        "country": "unknown",
        "continent": "unknown",
        "region": "unknown",
        "city": "unknown",
        "device": "unknown",
        "browser": "unknown",
        "os": "unknown",
        "referer": "direct",
        "rule": "default",
        "url": "unknown",
    }
    assert Click(0, 0, "a", "acct", NONE, False).country is None
    assert Click(0, 0, "a", "acct", DE, False).country == "DE"


def test_overflow_keeps_the_low_cardinality_dimensions() -> None:
    cell = dims(country="DE", region="BE", city="Berlin", referer="t.co", rule="DE", url="https://x/")
    assert dict(zip(DIMENSIONS, overflow_cell(cell), strict=True)) == {
        **dict(zip(DIMENSIONS, cell, strict=True)),
        "region": OTHER,
        "city": OTHER,
        "referer": OTHER,
        "url": OTHER,
    }


def _row() -> Row:
    return Row(
        7,
        {
            "a": LinkCounts(
                "acct", 3, 1, {DE: packed(2, 1), NONE: packed(1, 0)}, "sa", _uniques(1, 2), _uniques(-3)
            ),
            "b": LinkCounts("x", 1, 0, {}, None),
        },
    )


def test_a_row_is_stored_in_the_compact_positional_form() -> None:
    stored = encode_row(_row())
    assert stored["o"] == 7
    account, total, bot, cells, slug, humans, bots = stored["l"]["a"]
    assert (account, total, bot, slug) == ("acct", 3, 1, "sa")
    assert cells == [(DE, 2, 1), (NONE, 1, 0)]
    assert isinstance(humans, str) and isinstance(bots, str)  # base64 of the compact sketch
    assert stored["l"]["b"] == ["x", 1, 0, [], None, None, None]  # empty sketches take no room
    assert decode_row(stored) == _row()


def test_a_stored_row_round_trips_through_json() -> None:
    # The Faust table serialises values with orjson: what comes back is lists and dicts again.
    stored = encode_row(_row())
    again = decode_row(orjson.loads(orjson.dumps(stored)))
    assert encode_row(again) == stored
    assert round(again.links["a"].humans.estimate()) == 2


def test_rows_stored_before_the_dimensions_still_decode() -> None:
    old = {"o": 3, "l": {"a": ["acct", 3, 1, {"DE": [2, 1], "unknown": [1, 0]}, "sa"]}}
    link = decode_row(old).links["a"]
    assert link.cells == {dims(country="DE"): packed(2, 1), NONE: packed(1, 0)}
    assert link.humans.is_empty()


def test_merging_a_delta_adds_counts_visitors_and_keeps_the_latest_slug() -> None:
    row = _row()
    delta = Delta()
    delta.add(Click(8, 0, "a", "acct", DE, False, "new-slug", visitor=5))
    delta.add(Click(9, 0, "c", "acct", NONE, True, visitor=6))
    merge(row, delta)
    assert row.last_offset == 9
    assert row.links["a"] == LinkCounts(
        "acct", 4, 1, {DE: packed(3, 1), NONE: packed(1, 0)}, "new-slug", _uniques(1, 2, 5), _uniques(-3)
    )
    assert row.links["c"] == LinkCounts("acct", 1, 1, {NONE: packed(1, 1)}, None, Uniques(), _uniques(6))
    delta.links["c"].total = 99  # the row holds its own counts, not the delta's
    assert row.links["c"].total == 1


def test_past_max_cells_new_combinations_count_in_their_overflow_cell() -> None:
    row = Row()
    delta = Delta()
    for i in range(5):
        cell = dims(country="DE", device="mobile", city=f"city-{i}", url=f"https://x/{i}")
        delta.add(Click(i, 0, "a", "acct", cell, i == 4))
    merge(row, delta, max_cells=3)
    link = row.links["a"]
    assert len(link.cells) == 4  # three cells, and the overflow cell of the other two
    other = overflow_cell(dims(country="DE", device="mobile"))
    assert link.cells[other] == packed(2, 1)
    assert (link.total, link.bot) == (5, 1)
    assert link.by("country") == {"DE": Counts(5, 1)}
    assert link.by("device") == {"mobile": Counts(5, 1)}
