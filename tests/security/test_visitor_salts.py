"""Yesterday's visitor keys cannot be traced back to an IP: the day's random salt is destroyed two days
later, and nothing left on disk (link database, its WAL, the data directory) or in the events can make it
again. The redirect service runs with its own SQLite link store and data directory; its clock is moved on."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from producer.app import create_app
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.settings import ProducerSettings
from producer.visitors import OLD_SECRET_FILE, StaticSalt, VisitorKeys

VISITOR = "198.51.100.7"
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
DAY = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def _run(data_dir: Path, clock: Callable[[], datetime], publisher: InMemoryClickPublisher) -> None:
    """Start the service (its lifespan makes and rotates the salts), visit the demo link once, stop."""
    settings = ProducerSettings(data_dir=data_dir, trusted_proxies=["127.0.0.1/32"], demo_link=True)
    front = create_app(settings, publisher=publisher, clock=clock)
    app = front.app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(front, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"User-Agent": AGENT, "CF-Connecting-IP": VISITOR}
            assert (await client.get("/demo", headers=headers)).status_code == 302


def _salts(data_dir: Path) -> dict[str, bytes]:
    with sqlite3.connect(data_dir / "links.db") as db:
        return {day: bytes(salt) for day, salt in db.execute("SELECT day, salt FROM visitor_salts")}


async def test_a_visitor_key_of_two_days_ago_can_no_longer_be_traced_to_its_ip(tmp_path: Path) -> None:
    data_dir = tmp_path / "producer"
    data_dir.mkdir()
    (data_dir / OLD_SECRET_FILE).write_text("the secret an earlier version derived every salt from")
    now = [DAY]
    publisher = InMemoryClickPublisher()
    await _run(data_dir, lambda: now[0], publisher)
    salt = _salts(data_dir)[DAY.date().isoformat()]
    key = publisher.events[-1].visitor
    assert key is not None
    # While the day's salt exists, the key is the visitor's: an attacker with the salt finds the IP.
    assert VisitorKeys(StaticSalt(salt)).key(DAY, VISITOR, AGENT) == key
    assert not (data_dir / OLD_SECRET_FILE).exists()  # what could remake every past salt is gone

    now[0] = DAY + timedelta(days=2)  # the service runs on; its next rotation destroys that day's salt
    await _run(data_dir, lambda: now[0], publisher)
    left = _salts(data_dir)
    assert DAY.date().isoformat() not in left
    assert min(date.fromisoformat(day) for day in left) == DAY.date() + timedelta(days=1)
    # Everything left: no file holds the salt, no stored salt gives the key, and no event holds the IP.
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert salt not in path.read_bytes(), path
    assert all(VisitorKeys(StaticSalt(other)).key(DAY, VISITOR, AGENT) != key for other in left.values())
    assert all(VISITOR not in repr(event) for event in publisher.events)


async def test_producers_given_a_store_of_their_own_make_their_own_salts() -> None:
    # Two services on two stores (two hosts without a shared database) cannot agree on a salt they never
    # shared; on one store they do (tests/unit/producer/test_visitors.py, and on PostgreSQL).
    keys = []
    for _ in range(2):
        publisher = InMemoryClickPublisher()
        settings = ProducerSettings(trusted_proxies=["127.0.0.1/32"], demo_link=True)
        front = create_app(settings, store=InMemoryStore(), publisher=publisher, clock=lambda: DAY)
        async with front.app.router.lifespan_context(front.app):
            transport = httpx.ASGITransport(front, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await client.get("/demo", headers={"User-Agent": AGENT, "CF-Connecting-IP": VISITOR})
        keys.append(publisher.events[-1].visitor)
    assert None not in keys and keys[0] != keys[1]
