"""A filter value as the analytics API's users write it, turned into the form the windows store: pure.

A filter that names a value the windows can never hold would answer 0 clicks for a question that has an
answer, so a value is either put in the stored form (country codes in capitals, a referer URL to its domain,
device types in lower case) or refused with the form that is accepted. Free-text dimensions (region, city,
browser, OS, destination URL) are compared as given.
"""

from __future__ import annotations

import re

from schemas.referers import referer_domain
from stream_app.aggregation import DEFAULT_RULE, DIRECT, OTHER, UNKNOWN
from stream_app.errors import BadQueryError

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
"""The continent codes (Cloudflare's ``CF-IPContinent``)."""
DEVICES = ("desktop", "mobile", "tablet", "other")
"""The device types (``producer.agents``)."""

_ALPHA2 = re.compile(r"[A-Za-z]{2}")


def normalise(name: str, value: str) -> str:
    """``value`` of filter ``name`` in the form the windows store it.

    Raises:
        BadQueryError: the value can never match (a country that is no alpha-2 code, a referer that is
            neither a domain nor a URL with one, an unknown device type), with the accepted form.
    """
    folded = value.lower()
    if name in ("country", "rule"):
        if _ALPHA2.fullmatch(value):
            return value.upper()
        spare = UNKNOWN if name == "country" else DEFAULT_RULE
        if folded == spare:
            return spare
        raise _refused(name, value, f"ISO 3166-1 alpha-2 country codes (DE, fr) or {spare}")
    if name == "continent":
        if value.upper() in CONTINENTS:
            return value.upper()
        if folded == UNKNOWN:
            return UNKNOWN
        raise _refused(name, value, f"continent codes ({', '.join(CONTINENTS)}) or {UNKNOWN}")
    if name == "device":
        if folded in (*DEVICES, UNKNOWN):
            return folded
        raise _refused(name, value, f"device types ({', '.join(DEVICES)}) or {UNKNOWN}")
    if name == "referer":
        if folded in (DIRECT, OTHER):
            return folded
        domain = referer_domain(value if "://" in value else f"http://{value}")
        if domain is None:
            raise _refused(
                name, value, f"domains (google.com), URLs (https://www.google.com/search) or {DIRECT}"
            )
        return domain
    return value


def _refused(name: str, value: str, accepted: str) -> BadQueryError:
    return BadQueryError(name, f"'{name}' values are {accepted}, not {value[:64]!r}")
