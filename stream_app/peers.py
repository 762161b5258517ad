"""How workers authenticate to each other: HMAC-SHA256 with a cluster secret, never a caller's key.

A worker that gathers another worker's part of an answer sends ``X-Clickpipe-Peer: <token>``: the caller's
already verified scope (an account id, or the operator), an expiry a few seconds ahead and a nonce, signed
together with the request (method, path, canonical query) and the base URL of the worker it is sent to. The
receiver recomputes the signature over the request it got and its own URL, so a token is valid at one
worker, for one request, once, for a few seconds: a group member that advertises its own URL gets a token
valid nowhere else. The answer comes back signed over its body and the nonce (``X-Clickpipe-Peer-Answer``),
so only a holder of the secret can contribute counts. Pure: no framework, the clock passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from stream_app.errors import PeerRejectedError

PEER_HEADER = "X-Clickpipe-Peer"
"""The request header carrying a peer token (the caller's ``Authorization`` is never sent on)."""
ANSWER_HEADER = "X-Clickpipe-Peer-Answer"
"""The answer header carrying the answering worker's signature over the body."""

TOKEN_MS = 5_000
"""How long a peer token is valid after it is made."""
SKEW_MS = 5_000
"""Clock difference between two workers' hosts tolerated on either side of a token's lifetime."""
MIN_SECRET = 32
"""Fewest characters of a cluster secret."""
MAX_TOKEN = 1_024
"""Longest peer token read (a real one is about 200 characters)."""

_VERSION = "v1"
_REQUEST = b"clickpipe-peer-request-v1"
_ANSWER = b"clickpipe-peer-answer-v1"


@dataclass(frozen=True, slots=True)
class PeerClaim:
    """A verified peer request: the caller's scope (None: the operator), the nonce its answer is bound to."""

    account_id: str | None
    nonce: str


def base_url(url: str) -> str:
    """A worker's base URL as tokens are bound to it: scheme and host lower case, no trailing slash."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def canonical_query(items: Iterable[tuple[str, str]]) -> str:
    """The decoded query parameters in one spelling: sorted, each name and value percent-encoded."""
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in sorted(items))


class ClusterKey:
    """Signs and checks peer tokens and answers with the cluster secret every worker shares.

    Args:
        secret: the cluster secret (at least ``MIN_SECRET`` characters).
    """

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"a cluster secret has at least {MIN_SECRET} characters")
        self._key = hashlib.sha256(b"clickpipe-cluster-key\n" + secret.encode()).digest()

    def token(
        self,
        account_id: str | None,
        *,
        target: str,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        now_ms: int,
        nonce: str | None = None,
    ) -> tuple[str, str]:
        """Return (token, nonce) for asking the worker at ``target`` for ``method path?query``."""
        nonce = nonce or secrets.token_urlsafe(18)
        claims = _b64(json.dumps({"sub": account_id, "exp": now_ms + TOKEN_MS, "nonce": nonce}).encode())
        mac = self._request_mac(claims, target, method, path, query)
        return f"{_VERSION}.{claims}.{_b64(mac)}", nonce

    def verify(
        self,
        token: str,
        *,
        own_url: str,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        now_ms: int,
    ) -> tuple[PeerClaim, int]:
        """Check a token against the request this worker (at ``own_url``) got; return its claim and expiry.

        Raises:
            PeerRejectedError: malformed, signed with another secret, for another worker or request, or
                expired (the replay check is ``PeerGate``'s).
        """
        parts = token.split(".") if len(token) <= MAX_TOKEN else []
        if len(parts) != 3 or parts[0] != _VERSION:
            raise PeerRejectedError("malformed peer token")
        _, claims, mac = parts
        expected = self._request_mac(claims, own_url, method, path, query)
        if not hmac.compare_digest(_b64(expected), mac):
            raise PeerRejectedError("peer token not valid for this worker and request")
        try:
            body = json.loads(_unb64(claims))
            account_id, expires, nonce = body["sub"], body["exp"], body["nonce"]
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise PeerRejectedError("malformed peer token") from exc
        if not (account_id is None or isinstance(account_id, str)) or not isinstance(nonce, str) or not nonce:
            raise PeerRejectedError("malformed peer token")
        if not isinstance(expires, int) or not expires - TOKEN_MS - SKEW_MS <= now_ms <= expires + SKEW_MS:
            raise PeerRejectedError("peer token expired")
        return PeerClaim(account_id, nonce), expires + SKEW_MS

    def seal(self, nonce: str, target: str, body: bytes) -> str:
        """The signature of the answer ``body`` of the worker at ``target`` to the request with ``nonce``."""
        return _b64(self._answer_mac(nonce, target, body))

    def sealed(self, nonce: str, target: str, body: bytes, signature: str | None) -> bool:
        """True when ``signature`` is ``seal(nonce, target, body)``."""
        expected = _b64(self._answer_mac(nonce, target, body))
        return signature is not None and hmac.compare_digest(expected, signature)

    def _request_mac(
        self, claims: str, target: str, method: str, path: str, query: Iterable[tuple[str, str]]
    ) -> bytes:
        fields = (claims, base_url(target), method.upper(), path, canonical_query(query))
        return hmac.digest(self._key, b"\n".join([_REQUEST, *(f.encode() for f in fields)]), "sha256")

    def _answer_mac(self, nonce: str, target: str, body: bytes) -> bytes:
        head = b"\n".join([_ANSWER, nonce.encode(), base_url(target).encode()])
        return hmac.digest(self._key, head + b"\n" + body, "sha256")


class NonceCache:
    """Nonces seen until they expire, so a token is accepted once; at most ``max_entries`` are held."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._until: dict[str, int] = {}

    def first_use(self, nonce: str, until_ms: int, now_ms: int) -> bool:
        """Remember ``nonce`` until ``until_ms``; False when it was already seen (a replay)."""
        for old in [old for old, until in self._until.items() if until < now_ms]:
            del self._until[old]
        if nonce in self._until:
            return False
        while len(self._until) >= self._max:
            del self._until[next(iter(self._until))]
        self._until[nonce] = until_ms
        return True


class PeerGate:
    """The receiving side: admits peer requests addressed to this worker, signs its answers to them.

    Args:
        key: the cluster key; None when no secret is configured (then every peer request is refused).
        own_url: this worker's advertised URL, the only target its tokens may name.
    """

    def __init__(self, key: ClusterKey | None, own_url: str, nonces: NonceCache | None = None) -> None:
        self._key = key
        self._own = base_url(own_url)
        self._nonces = nonces or NonceCache()

    def admit(
        self, token: str, method: str, path: str, query: Iterable[tuple[str, str]], now_ms: int
    ) -> PeerClaim:
        """Return the verified claim of a peer request for this worker's local part (``scope=local``).

        Raises:
            PeerRejectedError: no cluster secret here, a bad, expired or replayed token, or not a local query.
        """
        if self._key is None:
            raise PeerRejectedError("this worker has no cluster secret: it accepts no peer requests")
        items = list(query)
        claim, until = self._key.verify(
            token, own_url=self._own, method=method, path=path, query=items, now_ms=now_ms
        )
        if ("scope", "local") not in items:
            raise PeerRejectedError("a peer request asks for one worker's part (scope=local)")
        if not self._nonces.first_use(claim.nonce, until, now_ms):
            raise PeerRejectedError("peer token already used")
        return claim

    def seal(self, claim: PeerClaim, body: bytes) -> str:
        """The ``ANSWER_HEADER`` value for this worker's answer ``body`` to an admitted request."""
        if self._key is None:  # admit() let nothing in
            raise PeerRejectedError("this worker has no cluster secret")
        return self._key.seal(claim.nonce, self._own, body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
