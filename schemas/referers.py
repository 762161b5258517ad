"""The referer's domain, the dimension analytics group and filter by (the producer derives it, the worker
normalises ``referer=`` filters with it): a pure function that never raises."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_HOST = 253
"""Characters of the longest DNS name."""
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def referer_domain(referer: str | None) -> str | None:
    """The host of ``referer``: lower case, international names in their ASCII (IDNA) form, without a
    leading ``www.``; IP addresses as written by ``ipaddress``. None for no referer or one without a
    well-formed host (``"about:blank"``, a bare path, hostile text)."""
    if not referer:
        return None
    try:
        host = urlsplit(referer.strip()).hostname  # lower case, without user info, port or brackets
    except ValueError:  # e.g. an unclosed IPv6 bracket, or a netloc NFKC turns into a separator
        return None
    if not host:
        return None
    if ":" in host:
        return _ipv6(host)
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:  # a label too long or not allowed in a name
            return None
    host = host.removeprefix("www.")
    if not host or len(host) > MAX_HOST or not _HOST.fullmatch(host):
        return None
    return host


def _ipv6(host: str) -> str | None:
    try:
        return str(ipaddress.IPv6Address(host))
    except ValueError:
        return None
