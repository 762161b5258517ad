"""Checks on what link owners send: pure functions raising ValueError with a reason a user can act on."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from producer.countries import is_country

SLUG_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
"""What a slug is; match it whole (``fullmatch``): ``$`` would let a trailing newline through."""
_SLUG = re.compile(SLUG_PATTERN)
MAX_URL_LENGTH = 2048

RESERVED_SLUGS = frozenset(
    {"api", "docs", "redoc", "openapi.json", "healthz", "readyz", "metrics", "favicon.ico"}
)
"""Paths the service answers itself; a link cannot take them."""


def check_slug(slug: str) -> str:
    """Return ``slug`` if usable: 1-64 of letters, digits, '-' and '_', starting with a letter or digit."""
    if not _SLUG.fullmatch(slug):
        raise ValueError("slug must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    if slug.lower() in RESERVED_SLUGS:
        raise ValueError(f"slug {slug!r} is reserved")
    return slug


def check_destination(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host (no other scheme: no open redirect), a
    valid port, and only visible characters (no controls, DEL, lone surrogates, or invisible and
    direction-changing marks such as U+202E, which disguise where a link leads)."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"destination is longer than {MAX_URL_LENGTH} characters")
    for ch in url:
        if ch.isspace() or unicodedata.category(ch) == "Cc":
            raise ValueError(f"destination must not contain whitespace or control characters ({ch!r})")
        if unicodedata.category(ch) == "Cs":
            raise ValueError(f"destination must not contain a lone surrogate ({ch!r}): it is not text")
        if unicodedata.category(ch) == "Cf":
            raise ValueError(
                f"destination must not contain invisible or direction-changing characters (U+{ord(ch):04X})"
            )
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"destination must be an absolute http(s) URL, not {parts.scheme or 'relative'!r}")
    if not parts.hostname:
        raise ValueError("destination must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("destination must not carry credentials")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("destination port must be a number from 1 to 65535")
    return url


def check_country(code: str) -> str:
    """Return ``code`` if it is an assigned ISO 3166-1 alpha-2 country code (upper case)."""
    if not is_country(code):
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'DE', upper case)")
    return code
