"""Who may read which counts: API keys resolved to accounts, an operator key that sees everything.

Tenants send the producer's API key (``Authorization: Bearer <key>``); the worker asks the producer
(``GET {AUTH_URL}/api/account``) which account it belongs to, caches the answer briefly (valid and invalid
keys alike), and scopes every answer to that account. The resolver is a ``KeyResolver`` seam: HTTP in the
worker, in memory in tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from stream_app.errors import AuthUnavailableError, InvalidKeyError

BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Account:
    """The account an API key belongs to."""

    account_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose counts a request may see: one account's, or every account's (the operator)."""

    account_id: str | None

    @property
    def everything(self) -> bool:
        """True for the operator."""
        return self.account_id is None

    def sees(self, account_id: str) -> bool:
        """True when counts of ``account_id`` may be shown."""
        return self.account_id is None or self.account_id == account_id


OPERATOR = Scope(None)


class KeyResolver(Protocol):
    """Resolves an API key to its account."""

    async def resolve(self, key: str) -> Account:
        """Return the key's account.

        Raises:
            InvalidKeyError: no account has this key.
            AuthUnavailableError: cannot tell now.
        """
        ...


class InMemoryKeyResolver:
    """Keys and accounts in a dict, for tests and demos; ``calls`` counts look-ups."""

    def __init__(self, accounts: Mapping[str, Account]) -> None:
        self._accounts = dict(accounts)
        self.calls = 0
        self.unavailable = False

    async def resolve(self, key: str) -> Account:
        """Return the key's account (see ``KeyResolver``)."""
        self.calls += 1
        if self.unavailable:
            raise AuthUnavailableError("the account service is down (in-memory resolver)")
        try:
            return self._accounts[key]
        except KeyError:
            raise InvalidKeyError("unknown API key") from None


class HttpKeyResolver:
    """Asks the producer's ``GET /api/account`` (200 with the account, 401 for a bad key).

    Args:
        base_url: the producer's base URL.
        timeout: seconds for the whole look-up.
    """

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self._url = base_url.rstrip("/") + "/api/account"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def resolve(self, key: str) -> Account:
        """Return the key's account (see ``KeyResolver``)."""
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(self._url, headers=headers, allow_redirects=False) as response,
            ):
                if response.status in (401, 403):
                    raise InvalidKeyError("unknown or revoked API key")
                if response.status != 200:
                    raise AuthUnavailableError(
                        f"the account service answered {response.status}", status=response.status
                    )
                body = await response.json(content_type=None)
                return Account(str(body["account_id"]), str(body.get("name", "")))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            raise AuthUnavailableError(f"the account service is not reachable: {type(exc).__name__}") from exc


class CachingKeyResolver:
    """Remembers answers of another resolver: valid keys for ``ttl``, invalid ones for ``negative_ttl``.

    Outages are not remembered. At most ``max_entries`` keys are held (the oldest go first), so a flood of
    made-up keys cannot grow memory; keys are held as SHA-256 digests.
    """

    def __init__(
        self,
        inner: KeyResolver,
        *,
        ttl: float,
        negative_ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, Account | None]] = {}

    async def resolve(self, key: str) -> Account:
        """Return the key's account (see ``KeyResolver``), from the cache when fresh."""
        digest = hashlib.sha256(key.encode()).digest()
        now = self._clock()
        cached = self._entries.get(digest)
        if cached is not None and cached[0] > now:
            if cached[1] is None:
                raise InvalidKeyError("unknown or revoked API key")
            return cached[1]
        try:
            account = await self._inner.resolve(key)
        except InvalidKeyError:
            self._remember(digest, now + self._negative_ttl, None)
            raise
        self._remember(digest, now + self._ttl, account)
        return account

    def _remember(self, digest: bytes, until: float, account: Account | None) -> None:
        self._entries.pop(digest, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[digest] = (until, account)


class Authenticator:
    """Turns a request's ``Authorization`` header into a ``Scope``.

    Args:
        resolver: resolves tenants' API keys.
        operator_key: a key that sees every account (None: no operator access over HTTP).
    """

    def __init__(self, resolver: KeyResolver, operator_key: str | None = None) -> None:
        self._resolver = resolver
        self._operator = operator_key.encode() if operator_key else None

    async def scope(self, authorization: str | None) -> Scope:
        """Return whose counts the request may see.

        Raises:
            InvalidKeyError: no Bearer key, or an unknown one.
            AuthUnavailableError: the key could not be checked now.
        """
        if not authorization or authorization[: len(BEARER)].lower() != BEARER:
            raise InvalidKeyError("send an API key: 'Authorization: Bearer <key>'")
        key = authorization[len(BEARER) :].strip()
        if not key or len(key) > 512 or not key.isascii() or not key.isprintable():
            raise InvalidKeyError("malformed API key")
        if self._operator is not None and hmac.compare_digest(key.encode(), self._operator):
            return OPERATOR
        account = await self._resolver.resolve(key)
        return Scope(account.account_id)
