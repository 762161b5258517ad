"""Visitor keys for unique-visitor counts: a keyed hash of (the day's salt, IP, user agent), as in Plausible.

``salt(day) = BLAKE2b(key=secret, data=UTC date)``, rotated at 00:00 UTC by the visit's time, and
``visitor = signed 64-bit BLAKE2b(key=salt(day), data=ip + "\\0" + user_agent)`` (docs/analytics.md). The IP
is used here only, in memory: it is never stored, spooled, logged or sent. Without the secret a key cannot be
traced back to an IP; with it, only by trying every address for that day.

The secret is the setting ``CLICKPIPE_PRODUCER_VISITOR_SECRET``, or else a random one created once in the
data directory (``SECRET_FILE``, mode 0600), which restarts and every ``--workers`` process share.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from producer.errors import SecretError

SECRET_FILE = "visitor-secret"  # noqa: S105 - the file's name, not a secret
MIN_SECRET, MAX_SECRET = 16, 64
"""Bytes a secret may have (BLAKE2b takes keys of up to 64 bytes)."""
_IPV4_MAPPED = bytes(10) + b"\xff\xff"


class VisitorKeys:
    """Computes visitor keys from a secret; thread-safe (the sender may run on a thread of its own)."""

    def __init__(self, secret: bytes) -> None:
        if not MIN_SECRET <= len(secret) <= MAX_SECRET:
            raise SecretError(f"a visitor secret has {MIN_SECRET} to {MAX_SECRET} bytes, not {len(secret)}")
        self._secret = secret
        self._today: tuple[date, bytes] | None = None  # the last day's salt, replaced as one object

    def salt(self, day: date) -> bytes:
        """The salt of ``day`` (a UTC date)."""
        today = self._today
        if today is not None and today[0] == day:
            return today[1]
        salt = hashlib.blake2b(day.isoformat().encode(), key=self._secret).digest()
        self._today = (day, salt)
        return salt

    def key(self, at: datetime, ip: str | None, user_agent: str | None) -> int | None:
        """The visitor key of a visit at ``at`` (aware) from ``ip`` with ``user_agent``; None without a
        well-formed IP."""
        address = normalize_ip(ip)
        if address is None:
            return None
        salt = self.salt(at.astimezone(UTC).date())
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


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``; created first (random, mode 0600) when there is none. Processes racing to
    create it agree: each writes a file of its own and links it into place, and the first link wins."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, secrets.token_hex(MAX_SECRET // 2).encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(draft, path)  # atomic, and refused when another process was first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return _read(path)
    except OSError as exc:
        raise SecretError(f"cannot create the visitor secret {path}: {exc}") from exc


def _read(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretError(f"cannot read the visitor secret {path}: {exc}") from exc
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise SecretError(f"the visitor secret {path} must hold {MIN_SECRET} to {MAX_SECRET} bytes")
    return secret
