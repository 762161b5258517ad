"""Visitor keys for unique-visitor counts: a keyed hash of (the day's salt, IP, user agent), as in Plausible.

``visitor = signed 64-bit BLAKE2b(key=salt(day), data=ip + "\\0" + user_agent)``, the day UTC's by the
visit's time (docs/analytics.md). Each day's salt is 32 random bytes, made once by whichever producer needs it
first and kept in the link database (``SaltStore``), so every producer of a deployment (and every
``--workers`` process) counts a visitor once; it is destroyed two days later (``rotate``). Nothing stored can
make a salt again, so once it is gone a day's keys cannot be traced back to an IP, not even by trying every
address. The IP is used here only, in memory: it is never stored, spooled, logged or sent.

A visit on a day whose salt is not (or no longer) known gets no key: a click backfilled from before
yesterday counts as a click, not as a visitor.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

SALT_BYTES = 32
KEPT_DAYS = 1
"""Days before today whose salt is kept (yesterday's: visits of its last minutes still being sent)."""
AHEAD_DAYS = 1
"""Days after today whose salt is made ahead (a producer whose clock runs ahead, midnight passing)."""
OLD_SECRET_FILE = "visitor-secret"  # noqa: S105 - the file's name, not a secret
"""Where an earlier version kept the secret every salt was derived from; removed at start."""
_IPV4_MAPPED = bytes(10) + b"\xff\xff"


class SaltSource(Protocol):
    """The salts visitor keys are made with, by UTC day."""

    def salt(self, day: date) -> bytes | None:
        """The salt of ``day``, or None when none is known (no key for that day)."""
        ...


class DailySalts:
    """The salts of the days around today, as the last ``rotate`` left them; thread-safe reads (the
    sender may run on a thread of its own; the set is replaced as one object)."""

    def __init__(self) -> None:
        self._salts: dict[date, bytes] = {}

    def salt(self, day: date) -> bytes | None:
        return self._salts.get(day)

    def replace(self, salts: Mapping[date, bytes]) -> None:
        """Know exactly these salts from now on."""
        self._salts = dict(salts)

    @property
    def days(self) -> list[date]:
        """The days a salt is known for."""
        return sorted(self._salts)


class StaticSalt:
    """One salt for every day: for tests and benchmarks only (keys never rotate)."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def salt(self, day: date) -> bytes | None:
        return self._salt


class SaltStore(Protocol):
    """Where the day salts live, shared by every producer of a deployment (the link database)."""

    async def day_salt(self, day: date, fresh: bytes) -> bytes:
        """The salt of ``day``: the stored one, else ``fresh``, stored first (whoever stores first wins)."""
        ...

    async def forget_salts(self, before: date) -> int:
        """Destroy the salts of the days before ``before``; return how many."""
        ...


async def rotate(store: SaltStore, salts: DailySalts, today: date) -> None:
    """Make sure the salts from yesterday to tomorrow exist, know those, and destroy the older ones."""
    days = [today + timedelta(days=offset) for offset in range(-KEPT_DAYS, AHEAD_DAYS + 1)]
    salts.replace({day: await store.day_salt(day, secrets.token_bytes(SALT_BYTES)) for day in days})
    await store.forget_salts(days[0])


def remove_old_secret(data_dir: Path) -> bool:
    """Delete the secret an earlier version derived every salt from (it could remake past days' salts);
    True when there was one."""
    path = data_dir / OLD_SECRET_FILE
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class VisitorKeys:
    """Computes visitor keys with the salts of ``salts``; thread-safe."""

    def __init__(self, salts: SaltSource) -> None:
        self._salts = salts

    def key(self, at: datetime, ip: str | None, user_agent: str | None) -> int | None:
        """The visitor key of a visit at ``at`` (aware) from ``ip`` with ``user_agent``; None without a
        well-formed IP, or without a salt for the visit's day."""
        address = normalize_ip(ip)
        if address is None:
            return None
        salt = self._salts.salt(at.astimezone(UTC).date())
        if salt is None:
            return None
        data = f"{address}\0{user_agent or ''}".encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(data, key=salt, digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)


def normalize_ip(ip: str | None) -> str | None:
    """``ip`` in one canonical text form (an IPv4-mapped IPv6 address as its IPv4 address), or None when
    it is not an IP address. (``socket``'s parsers: ``ipaddress`` takes ten times as long.)"""
    if not ip:
        return None
    ip = ip.strip()
    try:
        if ":" not in ip:
            return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, ip))
        packed = socket.inet_pton(socket.AF_INET6, ip)
    except (OSError, ValueError):  # not an address; ValueError: an embedded NUL
        return None
    if packed.startswith(_IPV4_MAPPED):
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


def client_address(peer: str | None, headers: Mapping[str, str], trusted: bool) -> str | None:
    """The visitor's address: from a trusted proxy, its ``CF-Connecting-IP`` or else the first
    ``X-Forwarded-For`` entry; otherwise (or when the proxy names none) the peer's. Not validated here:
    ``VisitorKeys.key`` does that, off the request path."""
    if trusted:
        forwarded = headers.get("cf-connecting-ip") or headers.get("x-forwarded-for", "").partition(",")[0]
        if forwarded.strip():
            return forwarded
    return peer
