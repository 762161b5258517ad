"""Visitor keys: the documented keyed BLAKE2b, a random salt a day shared through the store, destroyed after
two days."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from producer.memory_store import InMemoryStore
from producer.sqlite_store import SqliteStore
from producer.visitors import (
    OLD_SECRET_FILE,
    DailySalts,
    StaticSalt,
    VisitorKeys,
    client_address,
    normalize_ip,
    remove_old_secret,
    rotate,
)

SECRET = b"s" * 32
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_key_is_the_documented_keyed_hash_as_a_signed_64_bit_integer() -> None:
    digest = hashlib.blake2b(f"198.51.100.7\0{AGENT}".encode(), key=SECRET, digest_size=8).digest()
    key = VisitorKeys(StaticSalt(SECRET)).key(NOON, "198.51.100.7", AGENT)
    assert key == int.from_bytes(digest, "big", signed=True)
    assert key is not None and -(2**63) <= key < 2**63


def test_one_visitor_one_key_a_day_and_a_new_one_from_00_00_utc() -> None:
    salts = DailySalts()
    salts.replace({date(2026, 3, 1): b"a" * 32, date(2026, 3, 2): b"b" * 32})
    keys = VisitorKeys(salts)
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


def test_the_ip_the_agent_and_the_salt_each_change_the_key() -> None:
    keys = VisitorKeys(StaticSalt(SECRET))
    base = keys.key(NOON, "198.51.100.7", AGENT)
    assert keys.key(NOON, "198.51.100.8", AGENT) != base
    assert keys.key(NOON, "198.51.100.7", AGENT + " ") != base
    assert VisitorKeys(StaticSalt(b"t" * 32)).key(NOON, "198.51.100.7", AGENT) != base
    assert keys.key(NOON, " ::ffff:198.51.100.7 ", AGENT) == base  # one address, one key
    assert keys.key(NOON, "2001:DB8::1", None) == keys.key(NOON, "2001:db8:0::1", "")


@pytest.mark.parametrize("ip", [None, "", "unknown", "198.51.100.7:443", "1.2.3.4, 5.6.7.8", "\x00"])
def test_no_key_without_a_well_formed_ip(ip: str | None) -> None:
    assert VisitorKeys(StaticSalt(SECRET)).key(NOON, ip, AGENT) is None
    assert normalize_ip(ip) is None


def test_no_key_for_a_day_without_a_salt() -> None:
    salts = DailySalts()
    salts.replace({date(2026, 3, 1): SECRET})
    keys = VisitorKeys(salts)
    assert keys.key(NOON, "198.51.100.7", AGENT) is not None
    assert keys.key(NOON - timedelta(days=1), "198.51.100.7", AGENT) is None  # its salt is gone


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


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_rotation_makes_random_salts_shares_them_and_destroys_old_ones(
    kind: str, tmp_path: Path
) -> None:
    store = InMemoryStore() if kind == "memory" else SqliteStore(tmp_path / "links.db")
    first, second = DailySalts(), DailySalts()  # two producers on one store
    today = date(2026, 3, 1)
    await rotate(store, first, today)
    await rotate(store, second, today)
    assert first.days == second.days == [date(2026, 2, 28), today, date(2026, 3, 2)]
    assert all(first.salt(day) == second.salt(day) for day in first.days)  # one salt a day for all
    assert len({first.salt(day) for day in first.days}) == 3  # random: no two days share one
    yesterday = first.salt(date(2026, 2, 28))

    await rotate(store, first, today + timedelta(days=2))
    assert first.days == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert await store.forget_salts(date(2026, 3, 2)) == 0  # the old ones are gone already
    assert await store.day_salt(date(2026, 2, 28), b"n" * 32) == b"n" * 32  # not the old one: destroyed
    assert yesterday != b"n" * 32
    if isinstance(store, SqliteStore):
        store.close()
        assert yesterday not in (tmp_path / "links.db").read_bytes()  # not even in a free page or the WAL
        wal = tmp_path / "links.db-wal"
        assert not wal.exists() or yesterday not in wal.read_bytes()


def test_the_secret_of_an_earlier_version_is_removed(tmp_path: Path) -> None:
    (tmp_path / OLD_SECRET_FILE).write_text("an old secret that could remake past salts")
    assert remove_old_secret(tmp_path)
    assert not (tmp_path / OLD_SECRET_FILE).exists()
    assert not remove_old_secret(tmp_path)
