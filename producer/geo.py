"""The visitor's location from Cloudflare's visitor-location headers, trusted only from known proxies."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from producer.countries import is_country

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloudflare's CF-IPCountry uses these for "no country": unknown and Tor.
_NOT_A_COUNTRY = frozenset({"XX", "T1"})
_CONTINENTS = frozenset({"AF", "AN", "AS", "EU", "NA", "OC", "SA"})
_MAX_TEXT = 128
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")


@dataclass(frozen=True, slots=True)
class Geo:
    """What is known of where a visitor is; every field may be None."""

    country: str | None = None
    city: str | None = None
    region: str | None = None
    continent: str | None = None
    latitude: float | None = None
    longitude: float | None = None


UNKNOWN = Geo()


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse trusted proxy networks (CIDR or single addresses); ValueError names a bad entry."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def is_trusted(client: str | None, networks: Iterable[IPNetwork]) -> bool:
    """True when the direct peer ``client`` is one of the trusted proxies. An IPv4-mapped IPv6 address
    (``::ffff:127.0.0.1``, as a dual-stack socket reports an IPv4 peer) counts as its IPv4 address."""
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return any(address in network or (mapped is not None and mapped in network) for network in networks)


def parse_country(value: str | None) -> str | None:
    """Return an ISO 3166-1 alpha-2 code from a CF-IPCountry header, or None when absent or not a country."""
    if not value:
        return None
    code = value.strip().upper()
    if code in _NOT_A_COUNTRY or not is_country(code):
        return None
    return code


def parse_coordinate(value: str | None, limit: float) -> float | None:
    """Return a latitude/longitude within ±``limit``, or None when absent or invalid."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return number


def _text(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()[:_MAX_TEXT]
    return value if value and _PRINTABLE.match(value) else None


def geo_from_headers(headers: Mapping[str, str]) -> Geo:
    """Read the visitor-location headers (``headers`` must be case-insensitive, as Starlette's are)."""
    continent = (headers.get("cf-ipcontinent") or "").strip().upper()
    return Geo(
        country=parse_country(headers.get("cf-ipcountry")),
        city=_text(headers.get("cf-ipcity")),
        region=_text(headers.get("cf-region")),
        continent=continent if continent in _CONTINENTS else None,
        latitude=parse_coordinate(headers.get("cf-iplatitude"), 90.0),
        longitude=parse_coordinate(headers.get("cf-iplongitude"), 180.0),
    )
