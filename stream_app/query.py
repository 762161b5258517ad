"""Answering analytics questions from window rows: pure functions, mergeable across workers.

Every answer is built from rows of the partitions one worker owns; answers from several workers are merged
with the ``merge_*`` functions (their links are disjoint, since a link lives in one partition).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from stream_app.aggregation import Row

Split = dict[str, int]  # {"total": n, "human": n, "bot": n}
Rows = Iterable[tuple[int, int, bool, Row]]
"""(window start, window end, closed, row) tuples."""


def visible(rows: Rows, account_id: str | None) -> Iterator[tuple[int, int, bool, Row]]:
    """Keep only the links of ``account_id`` in each row (every link when it is None: the operator)."""
    for start, end, closed, row in rows:
        if account_id is None:
            yield start, end, closed, row
            continue
        links = {link_id: link for link_id, link in row.links.items() if link.account_id == account_id}
        if links:
            yield start, end, closed, Row(row.last_offset, links)


def uncovered(parts: Iterable[Iterable[int]], partition_count: int) -> list[int]:
    """Partitions of ``0..partition_count-1`` that no part, or more than one part, answered for."""
    answered = Counter(partition for part in parts for partition in part)
    return sorted(p for p in range(partition_count) if answered[p] != 1)


def split(total: int, bot: int) -> Split:
    """Return a count split into total, human and bot."""
    return {"total": total, "human": total - bot, "bot": bot}


def _add(into: Split, other: Split) -> None:
    into["total"] += other["total"]
    into["human"] += other["human"]
    into["bot"] += other["bot"]


def link_series(rows: Iterable[tuple[int, int, bool, Row]], link_id: str) -> dict[str, Any]:
    """Return a link's time series from (window start, window end, closed, row) tuples.

    Answer: ``{"series": [{window_start, window_end, closed, total, human, bot, countries}], "totals"}``,
    windows in time order; ``countries`` maps a country to its split.
    """
    windows: dict[int, dict[str, Any]] = {}
    for start, end, closed, row in rows:
        link = row.links.get(link_id)
        if link is None:
            continue
        point = windows.setdefault(
            start,
            {"window_start": start, "window_end": end, "closed": closed, **split(0, 0), "countries": {}},
        )
        _add(point, split(link.total, link.bot))
        for country, counts in link.by("country").items():
            _add(point["countries"].setdefault(country, split(0, 0)), split(counts.total, counts.bot))
    return _series_answer(list(windows.values()))


def merge_link_series(answers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge link series answers from several workers."""
    windows: dict[int, dict[str, Any]] = {}
    for answer in answers:
        for point in answer["series"]:
            mine = windows.get(point["window_start"])
            if mine is None:
                windows[point["window_start"]] = {**point, "countries": dict(point["countries"])}
                continue
            _add(mine, point)
            mine["closed"] = mine["closed"] and point["closed"]
            for country, counts in point["countries"].items():
                _add(mine["countries"].setdefault(country, split(0, 0)), counts)
    return _series_answer(list(windows.values()))


def _series_answer(points: list[dict[str, Any]]) -> dict[str, Any]:
    points.sort(key=lambda point: point["window_start"])
    totals = split(0, 0)
    for point in points:
        _add(totals, point)
    return {"series": points, "totals": totals}


def countries(rows: Iterable[tuple[int, int, bool, Row]]) -> dict[str, Any]:
    """Return clicks by country over the rows: ``{"countries": {country: split}, "totals": split}``."""
    by_country: dict[str, Split] = {}
    for _, _, _, row in rows:
        for link in row.links.values():
            for country, counts in link.by("country").items():
                _add(by_country.setdefault(country, split(0, 0)), split(counts.total, counts.bot))
    return _countries_answer(by_country)


def merge_countries(answers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge country answers from several workers."""
    by_country: dict[str, Split] = {}
    for answer in answers:
        for country, counts in answer["countries"].items():
            _add(by_country.setdefault(country, split(0, 0)), counts)
    return _countries_answer(by_country)


def _countries_answer(by_country: dict[str, Split]) -> dict[str, Any]:
    totals = split(0, 0)
    for counts in by_country.values():
        _add(totals, counts)
    ordered = dict(sorted(by_country.items(), key=lambda item: (-item[1]["total"], item[0])))
    return {"countries": ordered, "totals": totals}


def top_links(rows: Iterable[tuple[int, int, bool, Row]], limit: int) -> dict[str, Any]:
    """Return the ``limit`` most clicked links: ``{"links": [{link_id, slug, account_id, total, human,
    bot}]}``."""
    by_link: dict[str, dict[str, Any]] = {}
    for _, _, _, row in rows:
        for link_id, link in row.links.items():
            entry = by_link.setdefault(
                link_id, {"link_id": link_id, "slug": link.slug, "account_id": link.account_id, **split(0, 0)}
            )
            entry["slug"] = link.slug or entry["slug"]
            _add(entry, split(link.total, link.bot))
    return _top_answer(by_link.values(), limit)


def merge_top_links(answers: Iterable[dict[str, Any]], limit: int) -> dict[str, Any]:
    """Merge top-link answers from several workers (each link is owned by one worker)."""
    return _top_answer([link for answer in answers for link in answer["links"]], limit)


def _top_answer(links: Iterable[dict[str, Any]], limit: int) -> dict[str, Any]:
    ordered = sorted(links, key=lambda link: (-link["total"], link["link_id"]))
    return {"links": ordered[:limit]}
