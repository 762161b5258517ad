"""Rows as typed records, and their stored form."""

from __future__ import annotations

import orjson

from stream_app.aggregation import Click, Counts, Delta, LinkCounts, Row, decode_row, encode_row, merge

STORED = {
    "o": 7,
    "l": {"a": ["acct", 3, 1, {"DE": [2, 1], "unknown": [1, 0]}, "sa"], "b": ["x", 1, 0, {}, None]},
}


def test_a_row_is_stored_in_the_compact_positional_form() -> None:
    row = Row(
        7,
        {
            "a": LinkCounts("acct", 3, 1, {"DE": Counts(2, 1), "unknown": Counts(1, 0)}, "sa"),
            "b": LinkCounts("x", 1, 0, {}, None),
        },
    )
    assert encode_row(row) == STORED
    assert decode_row(STORED) == row


def test_a_stored_row_round_trips_through_json() -> None:
    # The Faust table serialises values with orjson: what comes back is lists and dicts again.
    assert encode_row(decode_row(orjson.loads(orjson.dumps(STORED)))) == STORED


def test_merging_a_delta_adds_counts_and_keeps_the_latest_slug() -> None:
    row = decode_row(STORED)
    delta = Delta()
    delta.add(Click(8, 0, "a", "acct", "DE", False, "new-slug"))
    delta.add(Click(9, 0, "c", "acct", None, True))
    merge(row, delta)
    assert row.last_offset == 9
    assert row.links["a"] == LinkCounts(
        "acct", 4, 1, {"DE": Counts(3, 1), "unknown": Counts(1, 0)}, "new-slug"
    )
    assert row.links["c"] == LinkCounts("acct", 1, 1, {"unknown": Counts(1, 1)}, None)
    delta.links["c"].total = 99  # the row holds its own counts, not the delta's
    assert row.links["c"].total == 1
