"""Peer tokens and signed answers: valid at one worker, for one request, once, for a few seconds."""

from __future__ import annotations

from typing import Any

import pytest

from stream_app.errors import InvalidKeyError, PeerRejectedError
from stream_app.peers import (
    MAX_TOKEN,
    SKEW_MS,
    TOKEN_MS,
    ClusterKey,
    NonceCache,
    PeerClaim,
    PeerGate,
    base_url,
    canonical_query,
)

SECRET = "cluster-secret-0123456789-abcdefghij"  # noqa: S105 - a test secret
T0 = 1_795_000_000_000
ME = "http://10.0.0.2:6066"
PATH = "/api/analytics"
QUERY = [("groupBy", "countries"), ("start", "2026-11-28T09:00:00Z"), ("scope", "local")]


def _token(account: str | None = "acct-alice", **overrides: Any) -> str:
    request: dict[str, Any] = {"target": ME, "method": "GET", "path": PATH, "query": QUERY, "now_ms": T0}
    token, _ = ClusterKey(SECRET).token(account, **{**request, **overrides})
    return token


def _gate(secret: str | None = SECRET, own: str = ME) -> PeerGate:
    return PeerGate(ClusterKey(secret) if secret else None, own)


def _admit(gate: PeerGate, token: str, **overrides: Any) -> PeerClaim:
    request: dict[str, Any] = {"method": "GET", "path": PATH, "query": QUERY, "now_ms": T0 + 10}
    return gate.admit(token, **{**request, **overrides})


def test_a_token_carries_the_verified_scope_to_its_target() -> None:
    gate = _gate()
    assert _admit(gate, _token("acct-alice")).account_id == "acct-alice"
    assert _admit(gate, _token(None)).account_id is None  # the operator
    # The query's order and spelling do not matter, its content does.
    assert _admit(gate, _token(), query=list(reversed(QUERY))).account_id == "acct-alice"


@pytest.mark.parametrize(
    "request_got",
    [
        {"path": "/api/stats/top-links"},
        {"method": "POST"},
        {"query": [*QUERY[:-1], ("scope", "local"), ("link", "x")]},
        {"query": [("groupBy", "count"), *QUERY[1:]]},
    ],
    ids=["path", "method", "extra-parameter", "changed-parameter"],
)
def test_a_token_is_valid_for_its_own_request_only(request_got: dict[str, Any]) -> None:
    with pytest.raises(PeerRejectedError, match="not valid"):
        _admit(_gate(), _token(), **request_got)


@pytest.mark.parametrize("other", ["http://10.0.0.3:6066", "http://10.0.0.2:6067", "https://10.0.0.2:6066"])
def test_a_token_sent_to_one_worker_is_refused_by_every_other(other: str) -> None:
    """What a rogue group member receives names the rogue's URL: no real worker takes it."""
    with pytest.raises(PeerRejectedError, match="not valid"):
        _admit(_gate(own=other), _token(target=ME))
    assert _admit(_gate(own=ME + "/"), _token(target="HTTP://10.0.0.2:6066")).account_id == "acct-alice"


def test_a_tampered_scope_is_refused() -> None:
    version, claims, mac = _token("acct-bob").split(".")
    _, other_claims, _ = _token("acct-alice").split(".")
    for forged in (f"{version}.{other_claims}.{mac}", f"{version}.{claims}.{mac[:-2]}AA"):
        with pytest.raises(PeerRejectedError):
            _admit(_gate(), forged)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token, _ = ClusterKey("another-secret-0123456789-abcdefghij").token(
        None, target=ME, method="GET", path=PATH, query=QUERY, now_ms=T0
    )
    with pytest.raises(PeerRejectedError, match="not valid"):
        _admit(_gate(), token)


def test_without_a_secret_no_peer_request_is_admitted() -> None:
    with pytest.raises(PeerRejectedError, match="no cluster secret"):
        _admit(_gate(secret=None), _token())


@pytest.mark.parametrize(
    "now_ms",
    [T0 + TOKEN_MS + SKEW_MS + 1, T0 - SKEW_MS - 1, T0 + 3_600_000],
    ids=["expired", "from-the-future", "an-hour-later"],
)
def test_a_token_lives_a_few_seconds(now_ms: int) -> None:
    with pytest.raises(PeerRejectedError, match="expired"):
        _admit(_gate(), _token(), now_ms=now_ms)
    assert _admit(_gate(), _token(), now_ms=T0 + TOKEN_MS + SKEW_MS).account_id == "acct-alice"


def test_a_token_is_used_once() -> None:
    gate, token = _gate(), _token()
    _admit(gate, token)
    with pytest.raises(PeerRejectedError, match="already used"):
        _admit(gate, token, now_ms=T0 + 20)


def test_a_peer_token_asks_for_a_local_part_only() -> None:
    query = QUERY[:-1]
    with pytest.raises(PeerRejectedError, match="scope=local"):
        _admit(_gate(), _token(query=query), query=query)


@pytest.mark.parametrize(
    "token", ["", "v1", "v1.a.b.c", "v2.a.b", "v1..", "v1.é.x", "x" * (MAX_TOKEN + 1), "Bearer cpk_x"]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(PeerRejectedError):
        _admit(_gate(), token)


def test_a_refused_peer_is_a_401_like_a_bad_key() -> None:
    assert issubclass(PeerRejectedError, InvalidKeyError)


def test_answers_are_bound_to_the_secret_the_request_and_the_worker() -> None:
    key = ClusterKey(SECRET)
    body = b'{"part": {"clicks": 3}, "partitions": [1]}'
    signature = key.seal("nonce-1", ME, body)
    assert key.sealed("nonce-1", ME, body, signature)
    assert not key.sealed("nonce-1", ME, body.replace(b"3", b"9"), signature)  # skewed counts
    assert not key.sealed("nonce-2", ME, body, signature)  # another request's answer
    assert not key.sealed("nonce-1", "http://10.0.0.3:6066", body, signature)  # another worker's
    assert not key.sealed("nonce-1", ME, body, None)
    assert not ClusterKey("another-secret-0123456789-abcdefghij").sealed("nonce-1", ME, body, signature)


def test_the_gate_signs_its_answers_for_the_requesting_worker() -> None:
    gate = _gate()
    claim = _admit(gate, _token())
    body = b"{}"
    assert ClusterKey(SECRET).sealed(claim.nonce, ME, body, gate.seal(claim, body))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        ClusterKey("too-short")


def test_the_nonce_cache_forgets_expired_nonces_and_stays_bounded() -> None:
    cache = NonceCache(max_entries=2)
    assert cache.first_use("a", until_ms=10, now_ms=0)
    assert not cache.first_use("a", until_ms=10, now_ms=5)
    assert cache.first_use("a", until_ms=30, now_ms=11)  # expired, so forgotten
    assert cache.first_use("b", until_ms=30, now_ms=12)
    assert cache.first_use("c", until_ms=30, now_ms=12)
    assert len(cache._until) == 2


def test_urls_and_queries_have_one_spelling() -> None:
    assert base_url("HTTP://Worker-1:6066/ ") == "http://worker-1:6066"
    assert canonical_query([("b", "x y"), ("a", "1&c=2")]) == "a=1%26c%3D2&b=x%20y"
