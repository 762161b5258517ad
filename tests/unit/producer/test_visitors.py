"""Visitor keys: the documented keyed BLAKE2b, a salt that rotates at 00:00 UTC, one secret per data dir."""

from __future__ import annotations

import hashlib
import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from producer.app import create_app
from producer.errors import SecretError
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.settings import ProducerSettings
from producer.visitors import SECRET_FILE, VisitorKeys, client_address, load_or_create_secret, normalize_ip

SECRET = b"s" * 32
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_key_is_the_documented_keyed_hash_as_a_signed_64_bit_integer() -> None:
    salt = hashlib.blake2b(b"2026-03-01", key=SECRET).digest()
    digest = hashlib.blake2b(f"198.51.100.7\0{AGENT}".encode(), key=salt, digest_size=8).digest()
    key = VisitorKeys(SECRET).key(NOON, "198.51.100.7", AGENT)
    assert key == int.from_bytes(digest, "big", signed=True)
    assert key is not None and -(2**63) <= key < 2**63


def test_one_visitor_one_key_a_day_and_a_new_one_from_00_00_utc() -> None:
    keys = VisitorKeys(SECRET)
    last = datetime(2026, 3, 1, 23, 59, 59, 999_000, tzinfo=UTC)
    same_day = [keys.key(last - timedelta(hours=hours), "198.51.100.7", AGENT) for hours in range(24)]
    assert len(set(same_day)) == 1
    assert keys.key(last + timedelta(milliseconds=1), "198.51.100.7", AGENT) != same_day[0]
    # The day is UTC's: 01:30 in Berlin on the 2nd is 00:30 UTC on the 2nd, 00:30 in New York is the 1st.
    berlin, new_york = timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))
    assert keys.key(datetime(2026, 3, 2, 0, 30, tzinfo=new_york), "198.51.100.7", AGENT) == keys.key(
        datetime(2026, 3, 2, 5, 30, tzinfo=UTC), "198.51.100.7", AGENT
    )
    assert keys.key(datetime(2026, 3, 2, 0, 30, tzinfo=berlin), "198.51.100.7", AGENT) == same_day[0]


def test_the_ip_the_agent_and_the_secret_each_change_the_key() -> None:
    keys = VisitorKeys(SECRET)
    base = keys.key(NOON, "198.51.100.7", AGENT)
    assert keys.key(NOON, "198.51.100.8", AGENT) != base
    assert keys.key(NOON, "198.51.100.7", AGENT + " ") != base
    assert VisitorKeys(b"t" * 32).key(NOON, "198.51.100.7", AGENT) != base
    assert keys.key(NOON, " ::ffff:198.51.100.7 ", AGENT) == base  # one address, one key
    assert keys.key(NOON, "2001:DB8::1", None) == keys.key(NOON, "2001:db8:0::1", "")


@pytest.mark.parametrize("ip", [None, "", "unknown", "198.51.100.7:443", "1.2.3.4, 5.6.7.8", "\x00"])
def test_no_key_without_a_well_formed_ip(ip: str | None) -> None:
    assert VisitorKeys(SECRET).key(NOON, ip, AGENT) is None
    assert normalize_ip(ip) is None


@pytest.mark.parametrize("secret", [b"", b"x" * 15, b"x" * 65])
def test_a_secret_has_16_to_64_bytes(secret: bytes) -> None:
    with pytest.raises(SecretError):
        VisitorKeys(secret)


@pytest.mark.parametrize(
    ("peer", "headers", "trusted", "address"),
    [
        (
            "10.0.0.1",
            {"cf-connecting-ip": "198.51.100.7", "x-forwarded-for": "203.0.113.1"},
            True,
            "198.51.100.7",
        ),
        ("10.0.0.1", {"x-forwarded-for": "203.0.113.1, 10.0.0.9"}, True, "203.0.113.1"),
        ("10.0.0.1", {"x-forwarded-for": " , 10.0.0.9"}, True, "10.0.0.1"),
        ("10.0.0.1", {}, True, "10.0.0.1"),
        (
            "203.0.113.9",
            {"cf-connecting-ip": "198.51.100.7", "x-forwarded-for": "1.1.1.1"},
            False,
            "203.0.113.9",
        ),
        (None, {}, False, None),
    ],
)
def test_the_client_address_comes_from_headers_of_trusted_proxies_only(
    peer: str | None, headers: dict[str, str], trusted: bool, address: str | None
) -> None:
    assert client_address(peer, headers, trusted) == address


def test_the_secret_is_created_once_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / SECRET_FILE
    first = load_or_create_secret(path)
    assert len(first) == 64 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == first
    assert VisitorKeys(first).key(NOON, "198.51.100.7", AGENT) == VisitorKeys(
        load_or_create_secret(path)
    ).key(NOON, "198.51.100.7", AGENT)
    assert [entry.name for entry in path.parent.iterdir()] == [SECRET_FILE]  # no draft left behind


def _create(path: Path, start: Any, out: Any) -> None:
    start.wait()
    out.send(load_or_create_secret(path))


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    context = multiprocessing.get_context("fork")  # as ``--workers N`` processes start on one data dir
    start = context.Barrier(4)
    pipes = [context.Pipe(duplex=False) for _ in range(4)]
    processes = [context.Process(target=_create, args=(path, start, sender)) for _, sender in pipes]
    for process in processes:
        process.start()
    secrets = {receiver.recv() for receiver, _ in pipes}
    for process in processes:
        process.join(timeout=30)
    assert [process.exitcode for process in processes] == [0] * 4
    assert secrets == {path.read_bytes()}


@pytest.mark.parametrize("content", [b"", b"short"])
def test_a_damaged_secret_file_is_an_error_not_a_new_secret(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / SECRET_FILE
    path.write_bytes(content)
    with pytest.raises(SecretError):
        load_or_create_secret(path)
    assert path.read_bytes() == content


def _keys_of(settings: ProducerSettings) -> VisitorKeys:
    app = create_app(settings, store=InMemoryStore(), publisher=InMemoryClickPublisher())
    keys: VisitorKeys = app.app.state.services.visitors
    return keys


def test_apps_given_one_secret_agree_and_those_given_none_keep_theirs() -> None:
    shared = "a-deployment-wide-value-of-32-by"
    first, second = (_keys_of(ProducerSettings(visitor_secret=shared)) for _ in range(2))
    assert first.key(NOON, "198.51.100.7", AGENT) == second.key(NOON, "198.51.100.7", AGENT)
    assert first.key(NOON, "198.51.100.7", AGENT) == VisitorKeys(shared.encode()).key(
        NOON, "198.51.100.7", AGENT
    )
    # Given its store and publisher, an app keeps nothing in DATA_DIR: a secret of its own, in memory.
    alone = _keys_of(ProducerSettings(data_dir=Path("/nonexistent/never-created")))
    assert alone.key(NOON, "198.51.100.7", AGENT) != first.key(NOON, "198.51.100.7", AGENT)


@pytest.mark.parametrize("secret", ["too-short", "x" * 65, "ü" * 33])
def test_the_secret_setting_is_checked(secret: str) -> None:
    with pytest.raises(ValidationError, match="16 to 64 bytes"):
        ProducerSettings(visitor_secret=secret)
