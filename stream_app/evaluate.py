"""Answering an analytics ``Plan`` from window rows: one worker's part, and the merge of every part.

A part holds what merges exactly: full groups (a dimension value is seen by several workers, so a top-N of
each would lose counts) and unique-visitor sketches as bytes (base64). Only the final merge truncates to
``limit`` and turns sketches into estimates. Pure: no framework, rows in, JSON-ready dicts out.

Rows must already be scoped to the caller (``query.visible``).
"""

from __future__ import annotations

import base64
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from stream_app import timeframe
from stream_app.aggregation import BOT_SHIFT, CLICK_MASK, Row
from stream_app.analytics import GROUP_BY, Plan
from stream_app.sketches import RELATIVE_STANDARD_ERROR, Uniques, union

Part = dict[str, Any]


class _Tally:
    """Clicks and the sketches of their visitors, for one group."""

    __slots__ = ("clicks", "sketches", "slug")

    def __init__(self) -> None:
        self.clicks = 0
        self.sketches: list[Uniques] = []
        self.slug: str | None = None

    def encoded(self) -> str | None:
        sketch = union(self.sketches)
        return None if sketch.is_empty() else base64.b64encode(sketch.to_bytes()).decode("ascii")


def _clicks(total: int, bot: int, bots: str) -> int:
    if bots == "exclude":
        return total - bot
    return bot if bots == "only" else total


def _sketches(link: Any, bots: str) -> list[Uniques]:
    if bots == "exclude":
        return [link.humans]
    return [link.bots] if bots == "only" else [link.humans, link.bots]


def local_part(plan: Plan, windows: Iterable[tuple[int, Row]]) -> Part:
    """This worker's part of the answer, from ``(window start, row)`` of ``plan.source`` windows."""
    edges = plan.edges
    buckets = len(edges) - 1
    dimension = plan.dimension
    filters = plan.dimensions
    by_cell = dimension is not None or bool(filters)
    uniques = plan.answers_uniques
    groups: dict[Any, _Tally] = {}
    for start, row in windows:
        bucket = bisect_right(edges, start) - 1
        if not 0 <= bucket < buckets:
            continue
        for link_id, link in row.links.items():
            if plan.links is not None and not plan.links.admits_link(link_id, link.slug):
                continue
            if plan.group_by == "timeseries":
                key: Any = bucket
            elif plan.group_by == "top_links":
                key = link_id
            else:
                key = None
            if not by_cell:
                tally = groups.get(key) or groups.setdefault(key, _Tally())
                tally.clicks += _clicks(link.total, link.bot, plan.bots)
                if uniques:
                    tally.sketches.extend(_sketches(link, plan.bots))
                if link.slug is not None:
                    tally.slug = link.slug
                continue
            for cell, counts in link.cells.items():
                if not all(dim_filter.admits(cell[index]) for index, dim_filter in filters):
                    continue
                group = cell[dimension] if dimension is not None else key
                tally = groups.get(group) or groups.setdefault(group, _Tally())
                tally.clicks += _clicks(counts & CLICK_MASK, counts >> BOT_SHIFT, plan.bots)
                if link.slug is not None:
                    tally.slug = link.slug
    return _encode(plan, groups, uniques)


def _encode(plan: Plan, groups: dict[Any, _Tally], uniques: bool) -> Part:
    def sketch(tally: _Tally) -> str | None:
        return tally.encoded() if uniques else None

    if plan.group_by == "count":
        tally = groups.get(None, _Tally())
        return {"clicks": tally.clicks, "sketch": sketch(tally)}
    if plan.group_by == "timeseries":
        return {"buckets": {str(b): [t.clicks, sketch(t)] for b, t in groups.items() if t.clicks}}
    if plan.group_by == "top_links":
        return {"links": {link: [t.slug, t.clicks, sketch(t)] for link, t in groups.items() if t.clicks}}
    return {"groups": {value: t.clicks for value, t in groups.items() if t.clicks}}


def _decode(encoded: str | None) -> list[Uniques]:
    return [] if encoded is None else [Uniques.from_bytes(base64.b64decode(encoded))]


def _estimate(sketches: list[Uniques]) -> int:
    return round(union(sketches).estimate())


def merge(plan: Plan, parts: Iterable[Part]) -> dict[str, Any]:
    """The whole answer from every worker's part: ``data`` and the resolved query around it. The time series
    of ``interval=all`` starts at the bucket of the first click (its ``start`` says so), not at the edge of
    what the worker keeps."""
    answer = {**describe(plan), "data": _merge_data(plan, list(parts))}
    if plan.interval == "all" and plan.group_by == "timeseries":
        series = answer["data"]
        first = next((index for index, point in enumerate(series) if point["clicks"]), len(series) - 1)
        answer["data"] = series[first:]
        answer["start"] = series[first]["start"]
    return answer


def _merge_data(plan: Plan, parts: list[Part]) -> Any:
    uniques = plan.answers_uniques
    if plan.group_by == "count":
        clicks = sum(int(part["clicks"]) for part in parts)
        sketches = [s for part in parts for s in _decode(part["sketch"])]
        return {"clicks": clicks, "uniques": _estimate(sketches) if uniques else None}
    if plan.group_by == "timeseries":
        totals: dict[int, _Tally] = {}
        for part in parts:
            for bucket, (clicks, encoded) in part["buckets"].items():
                tally = totals.setdefault(int(bucket), _Tally())
                tally.clicks += int(clicks)
                tally.sketches.extend(_decode(encoded))
        series = []
        for index, edge in enumerate(plan.edges[:-1]):
            tally = totals.get(index, _Tally())
            series.append(
                {
                    "start": timeframe.iso(edge, plan.zone),
                    "clicks": tally.clicks,
                    "uniques": _estimate(tally.sketches) if uniques else None,
                }
            )
        return series
    if plan.group_by == "top_links":
        links: dict[str, _Tally] = {}
        for part in parts:
            for link_id, (slug, clicks, encoded) in part["links"].items():
                tally = links.setdefault(link_id, _Tally())
                tally.clicks += int(clicks)
                tally.slug = slug or tally.slug
                tally.sketches.extend(_decode(encoded))
        ranked = sorted(links.items(), key=lambda item: (-item[1].clicks, item[0]))[: plan.limit]
        return [
            {
                "link_id": link_id,
                "slug": tally.slug,
                "clicks": tally.clicks,
                "uniques": _estimate(tally.sketches) if uniques else None,
            }
            for link_id, tally in ranked
        ]
    counted: dict[str, int] = {}
    for part in parts:
        for value, clicks in part["groups"].items():
            counted[value] = counted.get(value, 0) + int(clicks)
    ranked_values = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[: plan.limit]
    name = str(GROUP_BY[plan.group_by])
    if plan.group_by == "top_urls":
        return [{"url": value, "clicks": clicks} for value, clicks in ranked_values]
    return [{name: value, "clicks": clicks, "uniques": None} for value, clicks in ranked_values]


def describe(plan: Plan) -> dict[str, Any]:
    """The resolved query, answered around ``data``."""
    source = plan.source
    return {
        "groupBy": plan.group_by,
        "interval": plan.interval,
        "start": timeframe.iso(plan.start_ms, plan.zone),
        "end": timeframe.iso(plan.end_ms, plan.zone),
        "timezone": plan.zone.key,
        "granularity": plan.granularity,
        "bots": plan.bots,
        "limit": plan.limit,
        "uniques_error": RELATIVE_STANDARD_ERROR if plan.answers_uniques else None,
        "windows": source.granularity,
        "edges_rounded": source.rounded,
        "data_from": None if source.data_from_ms is None else timeframe.iso(source.data_from_ms, plan.zone),
    }
