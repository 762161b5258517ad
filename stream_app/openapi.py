"""The worker's HTTP API as an OpenAPI 3.1 document, served at ``/api/openapi.json``.

Hand-written; the enumerations come from ``stream_app.analytics`` and a unit test checks that the document
names exactly the parameters ``analytics.parse`` accepts, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from stream_app.aggregation import DIMENSIONS
from stream_app.analytics import (
    BOTS,
    DEFAULTS,
    EVENTS,
    GRANULARITIES,
    GROUP_BY,
    MAX_BUCKETS,
    MAX_LIMIT,
    MAX_VALUES,
)
from stream_app.timeframe import INTERVALS

_FILTER_HELP = {
    "link": "link ids or slugs",
    "country": "ISO 3166-1 alpha-2 codes, `unknown` for none",
    "continent": "continent codes (`EU`, `NA`, ...), `unknown` for none",
    "region": "region codes, `unknown` for none",
    "city": "city names, `unknown` for none",
    "device": "`desktop`, `mobile`, `tablet`, `other`, `unknown`",
    "browser": "browser families (`Chrome`, ...), `unknown`",
    "os": "OS families (`iOS`, ...), `unknown`",
    "referer": "referer domains or URLs (`https://www.google.com/` is `google.com`), `direct` for none",
    "rule": "the country whose destination rule fired, `default` for none",
    "url": "destination URLs",
}


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _enum(values: tuple[str, ...], default: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "enum": list(values)}
    if default is not None:
        schema["default"] = default
    return schema


def analytics_parameters() -> list[dict[str, Any]]:
    """The query parameters of ``GET /api/analytics``."""
    iso = {"type": "string", "format": "date-time"}
    return [
        _param(
            "groupBy",
            "What to count: a total, a time series, or top values of a dimension.",
            _enum(tuple(GROUP_BY), DEFAULTS["groupBy"]),
        ),
        _param(
            "interval",
            "A range ending now (`mtd`, `qtd`, `ytd` start in `timezone`). Not with start/end.",
            _enum(INTERVALS, DEFAULTS["interval"]),
        ),
        _param(
            "start",
            "Range start, ISO 8601 (read in `timezone` without an offset); rounded down to a bucket.",
            iso,
        ),
        _param("end", "Range end (exclusive), ISO 8601; default now; rounded up to a bucket.", iso),
        _param(
            "timezone",
            "IANA time zone of the day buckets and the `mtd`/`qtd`/`ytd` presets.",
            {"type": "string", "default": DEFAULTS["timezone"], "examples": ["Europe/Berlin"]},
        ),
        _param(
            "granularity",
            f"Bucket size; default `month` for `1y`, `ytd`, `all`, else chosen from the range. At most "
            f"{MAX_BUCKETS} buckets.",
            _enum(GRANULARITIES, None),
        ),
        *(
            _param(
                name,
                f"Comma list of {_FILTER_HELP[name]}; `-X` excludes X (at most {MAX_VALUES}).",
                {"type": "string", "examples": ["DE,-FR"]},
            )
            for name in ("link", *DIMENSIONS)
        ),
        _param("bots", "Count people only, bots only, or everyone.", _enum(BOTS, DEFAULTS["bots"])),
        _param(
            "limit",
            "How many groups a top-N answer holds.",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": int(DEFAULTS["limit"])},
        ),
        _param("event", "Dub's event kind: only `clicks` are recorded.", _enum(EVENTS, "clicks")),
        _param(
            "domain", "Dub's short-link domain, beside `key`; one deployment serves one.", {"type": "string"}
        ),
        _param("key", "Dub's name for `link`: slugs (not with `link`).", {"type": "string"}),
    ]


def _stats_parameters(with_limit: bool) -> list[dict[str, Any]]:
    iso = {"type": "string", "format": "date-time"}
    params = [
        {**_param("from", "Range start, ISO 8601 (UTC without an offset).", iso), "required": True},
        {**_param("to", "Range end, ISO 8601.", iso), "required": True},
        _param("granularity", "The windows to read.", {"type": "string", "default": "minute"}),
    ]
    if with_limit:
        params.append(
            _param(
                "limit", "How many links.", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}
            )
        )
    return params


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERRORS = {
    "400": _error("A parameter is wrong: `parameter` names it, `error` says why."),
    "401": _error("No API key, or one no account has."),
    "503": _error(
        "Partitions are moving between workers, a worker or the account service did not answer: retry."
    ),
}

_COUNT = {
    "type": ["integer", "null"],
    "description": "Estimated distinct visitors (null where sketches cannot tell).",
}


def _schemas() -> dict[str, Any]:
    group = {
        "type": "object",
        "description": "One value of the grouped dimension (named after it: `country`, `city`, ...).",
        "required": ["clicks", "uniques"],
        "properties": {"clicks": {"type": "integer"}, "uniques": {"type": "null"}},
        "additionalProperties": {"type": "string"},
        "minProperties": 3,
        "maxProperties": 3,
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
        },
        "Count": {
            "type": "object",
            "required": ["clicks", "uniques"],
            "properties": {"clicks": {"type": "integer"}, "uniques": _COUNT},
            "additionalProperties": False,
        },
        "Bucket": {
            "type": "object",
            "required": ["start", "clicks", "uniques"],
            "additionalProperties": False,
            "properties": {
                "start": {"type": "string", "format": "date-time"},
                "clicks": {"type": "integer"},
                "uniques": _COUNT,
            },
        },
        "Group": group,
        "TopLink": {
            "type": "object",
            "required": ["link_id", "slug", "clicks", "uniques"],
            "additionalProperties": False,
            "properties": {
                "link_id": {"type": "string"},
                "slug": {"type": ["string", "null"]},
                "clicks": {"type": "integer"},
                "uniques": _COUNT,
            },
        },
        "TopUrl": {
            "type": "object",
            "required": ["url", "clicks"],
            "additionalProperties": False,
            "properties": {"url": {"type": "string"}, "clicks": {"type": "integer"}},
        },
        "Analytics": {
            "type": "object",
            "required": ["groupBy", "start", "end", "timezone", "granularity", "bots", "data"],
            "properties": {
                "groupBy": {"type": "string"},
                "interval": {"type": ["string", "null"]},
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "timezone": {"type": "string"},
                "granularity": {"type": "string"},
                "bots": {"type": "string"},
                "limit": {"type": "integer"},
                "uniques_error": {
                    "type": ["number", "null"],
                    "description": "Relative standard error of `uniques` (about 0.016).",
                },
                "windows": {"type": "string", "description": "The windows the buckets were built from."},
                "edges_rounded": {
                    "type": "boolean",
                    "description": (
                        "True when bucket edges are not whole windows (a zone with a half-hour offset once "
                        "the minute windows are gone): each window counts in the bucket where it starts."
                    ),
                },
                "data_from": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "Set when the windows kept start after `start`.",
                },
                "data": {  # anyOf: which shape is told by groupBy (a bucket without uniques is a group too)
                    "anyOf": [
                        {"$ref": "#/components/schemas/Count"},
                        {
                            "type": "array",
                            "items": {
                                "anyOf": [
                                    {"$ref": "#/components/schemas/Bucket"},
                                    {"$ref": "#/components/schemas/Group"},
                                    {"$ref": "#/components/schemas/TopLink"},
                                    {"$ref": "#/components/schemas/TopUrl"},
                                ]
                            },
                        },
                    ]
                },
            },
        },
        "Stats": {"type": "object", "description": "The legacy stats answer (splits of total, human, bot)."},
    }


def _get(summary: str, parameters: list[dict[str, Any]], schema: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [{"apiKey": []}],
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The whole answer, from every worker.",
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                },
                **_ERRORS,
            },
        }
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the worker's API."""
    link_path = _get(
        "A link's clicks per window, with the country breakdown.", _stats_parameters(False), "Stats"
    )
    link_path["get"]["parameters"].insert(
        0, {"name": "link_id", "in": "path", "required": True, "schema": {"type": "string"}}
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clickpipe worker analytics",
            "version": "1",
            "description": "Click analytics of the caller's account, answered whole from every worker. "
            "See docs/analytics.md.",
        },
        "paths": {
            "/api/analytics": _get(
                "Clicks and unique visitors, counted, over time, or by a dimension.",
                analytics_parameters(),
                "Analytics",
            ),
            "/api/stats/links/{link_id}": link_path,
            "/api/stats/countries": _get("Clicks by country.", _stats_parameters(False), "Stats"),
            "/api/stats/top-links": _get("The most clicked links.", _stats_parameters(True), "Stats"),
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The account's API key (the operator key sees every account).",
                }
            },
            "schemas": _schemas(),
        },
    }
