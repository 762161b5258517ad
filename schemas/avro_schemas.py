"""The Avro schemas shipped with the contract, loaded from package data."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, cast

from fastavro import parse_schema

#: Every version of the LinkClick schema, oldest first. The last one is what producers write.
LINK_CLICK_VERSIONS: tuple[str, ...] = ("link_click.v1.avsc", "link_click.v2.avsc", "link_click.v3.avsc")


@cache
def load_schema(filename: str) -> dict[str, Any]:
    """Return the parsed schema stored as ``schemas/avro/<filename>``."""
    text = resources.files("schemas").joinpath("avro", filename).read_text(encoding="utf-8")
    return cast(dict[str, Any], parse_schema(json.loads(text), _write_hint=False))


def link_click_schemas() -> list[dict[str, Any]]:
    """Return every LinkClick schema version, oldest first."""
    return [load_schema(name) for name in LINK_CLICK_VERSIONS]


def link_click_schema() -> dict[str, Any]:
    """Return the current LinkClick schema (the one producers write and readers resolve to)."""
    return load_schema(LINK_CLICK_VERSIONS[-1])
