"""Count keys for the worker's tables: pure functions, no framework."""

from __future__ import annotations

UNKNOWN_COUNTRY = "unknown"
"""How a click without a known country is counted."""

_SEPARATOR = "|"


def country_key(country: str | None, partition: int) -> str:
    """Return the table key counting ``country``'s clicks read from source ``partition``.

    The country table is not keyed like the click topic (link id), so each source partition keeps its own
    row: a row then belongs to exactly one changelog partition and recovers without overwriting another's.
    """
    return f"{country or UNKNOWN_COUNTRY}{_SEPARATOR}{partition}"


def country_of(key: str) -> str:
    """Return the country of a key made by ``country_key``."""
    return key.rpartition(_SEPARATOR)[0]


def sum_by_country(rows: dict[str, int]) -> dict[str, int]:
    """Add up per-partition country rows into one count per country."""
    totals: dict[str, int] = {}
    for key, count in rows.items():
        country = country_of(key)
        totals[country] = totals.get(country, 0) + count
    return totals
