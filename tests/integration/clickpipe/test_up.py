"""``clickpipe up`` in a terminal: Ctrl-C stops it within 5 s, in order, leaving nothing behind.

Driven through a pseudo-terminal, so Ctrl-C is the terminal's SIGINT to its foreground process group, as a
person's would be; every part is on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import termios
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from clickpipe.broker import free_port, port_answers
from schemas.topics import CLICKS
from tests.fixtures import get_stats

BANNER = "Press Ctrl-C to stop everything."


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] not in ("Z", "X"):
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    """The pids still running (not gone, not zombies)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            alive.add(pid)
    return alive


class Terminal:
    """``clickpipe up`` on a pseudo-terminal that is its controlling terminal; the output is collected."""

    def __init__(self, ports: dict[str, int], log: Path, *options: str, cwd: Path | None = None) -> None:
        primary, secondary = os.openpty()
        self._primary = primary
        self._log = log
        self._text = ""
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "clickpipe", "up", "--broker-port", str(ports["broker"]),
                "--producer-port", str(ports["producer"]), "--worker-port", str(ports["worker"]), *options,
            ],
            stdin=secondary, stdout=secondary, stderr=secondary,
            start_new_session=True,
            cwd=cwd,
            # After setsid: the terminal becomes the controlling one, with ``up`` in its foreground group.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip
        os.close(secondary)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._primary, 65536)
            except OSError:  # EIO: every process holding the terminal has exited
                data = b""
            with self._changed:
                self._text += data.decode(errors="replace")
                self._changed.notify_all()
            if not data:
                return

    @property
    def text(self) -> str:
        with self._changed:
            return self._text

    def wait_for(self, text: str, timeout: float) -> None:
        with self._changed:
            if (
                not self._changed.wait_for(
                    lambda: text in self._text or self.process.poll() is not None, timeout
                )
                or text not in self._text
            ):
                pytest.fail(f"{text!r} did not appear; clickpipe up printed:\n{self._text[-5000:]}")

    def ctrl_c(self) -> None:
        os.write(self._primary, b"\x03")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(5)
        os.close(self._primary)
        self._log.write_text(self._text)


async def _click_arrives(consumer: AIOKafkaConsumer, agent: str) -> None:
    """Return once a click with this user agent is on the clicks topic."""
    while True:
        batches = await consumer.getmany(timeout_ms=200)
        if any(agent.encode() in (record.value or b"") for batch in batches.values() for record in batch):
            return


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("broker", "producer", "worker")}


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def _up(
    terminals: list[Terminal], ports: dict[str, int], log: Path, *options: str, cwd: Path | None = None
) -> tuple[Terminal, set[int]]:
    """Start ``up``, wait for its banner; return it and its processes. Its data directory is the test's
    (``data`` beside the log), unless the options or ``cwd`` (where ``up``'s default ``./data`` is) say."""
    if cwd is None and "--data-dir" not in options:
        options = ("--data-dir", str(log.parent / "data"), *options)
    terminal = Terminal(ports, log, *options, cwd=cwd)
    terminals.append(terminal)
    terminal.wait_for(BANNER, 120)
    processes = _descendants(terminal.process.pid)
    assert len(processes) >= 3, processes  # at least the broker, the worker and the producer
    return terminal, processes


async def test_ctrl_c_stops_everything_within_5s_and_a_second_up_starts_at_once(
    ports: dict[str, int], terminals: list[Terminal], tmp_path: Path
) -> None:
    terminal, processes = _up(terminals, ports, tmp_path / "up-1.log")
    assert terminal.text.count("clickpipe is up") == 1
    assert " INFO " not in terminal.text  # the services' logs are quiet: the banner stays in view

    producer = f"http://127.0.0.1:{ports['producer']}"
    consumer = AIOKafkaConsumer(bootstrap_servers=f"127.0.0.1:{ports['broker']}")
    await consumer.start()
    try:
        partitions = [TopicPartition(CLICKS, p) for p in consumer.partitions_for_topic(CLICKS) or ()]
        assert partitions
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end positions before the click is sent
            await consumer.position(partition)
        agent = f"last-click-{uuid.uuid4().hex}"
        async with httpx.AsyncClient(base_url=producer) as client:
            response = await client.get("/demo", headers={"User-Agent": agent})
        assert response.status_code == 302

        terminal.ctrl_c()  # just after the click
        pressed = time.monotonic()
        exited = asyncio.create_task(asyncio.to_thread(terminal.process.wait, 30))
        await asyncio.wait_for(_click_arrives(consumer, agent), 5)  # the producer's last click
    finally:
        with contextlib.suppress(KafkaError):  # aiokafka's consumer may fail to stop once the broker is gone
            await consumer.stop()
    exit_code = await exited
    elapsed = time.monotonic() - pressed

    assert exit_code == 0, terminal.text[-3000:]
    assert elapsed < 5, f"Ctrl-C took {elapsed:.1f}s:\n{terminal.text[-3000:]}"
    assert _alive(processes) == set()

    second, _ = _up(terminals, ports, tmp_path / "up-2.log")  # the same ports: nothing holds them
    assert "already in use" not in second.text


async def test_a_killed_up_leaves_nothing_behind(
    ports: dict[str, int], terminals: list[Terminal], tmp_path: Path
) -> None:
    terminal, processes = _up(terminals, ports, tmp_path / "up.log")
    terminal.process.send_signal(signal.SIGKILL)
    terminal.process.wait()
    deadline = time.monotonic() + 10  # SIGTERM at once; SIGKILL from the guard after its 3 s grace
    while _alive(processes) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert _alive(processes) == set()
    assert not any(port_answers("127.0.0.1", port) for port in ports.values())


async def test_sigterm_stops_up_in_order(
    ports: dict[str, int], terminals: list[Terminal], tmp_path: Path
) -> None:
    terminal, processes = _up(terminals, ports, tmp_path / "up.log")
    terminal.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert await asyncio.to_thread(terminal.process.wait, 30) == 0
    assert time.monotonic() - started < 5
    assert _alive(processes) == set()


@pytest.mark.kafka_only(reason="runs the pipeline on an Apache Kafka node of its own")
async def test_up_on_apache_kafka_serves_the_demo_link_and_counts_its_clicks(
    ports: dict[str, int], terminals: list[Terminal], tmp_path: Path
) -> None:
    terminal, processes = _up(terminals, ports, tmp_path / "up-kafka.log", "--broker", "kafka")
    assert "Apache Kafka, one node" in terminal.text
    # Secured: the producer and the worker below count the clicks logged in as their own users, with
    # only what the ACLs grant them (tests/security/test_kafka_acls.py shows what else is refused).
    assert "SCRAM-SHA-512 and ACLs" in terminal.text
    key = re.search(r"cpk_[A-Za-z0-9_-]+", terminal.text)
    assert key is not None, terminal.text
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['producer']}") as client:
        statuses = [(await client.get("/demo", headers={"CF-IPCountry": "DE"})).status_code for _ in range(5)]
    assert statuses == [302] * 5
    now = datetime.now(UTC)
    params = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    headers = {"Authorization": f"Bearer {key.group()}"}
    total = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['worker']}", headers=headers) as client:
        deadline = time.monotonic() + 60
        while total < 5 and time.monotonic() < deadline:
            response = await get_stats(client, "/api/stats/links/demo", params)
            assert response.status_code == 200, response.text
            total = response.json()["totals"]["total"]
            await asyncio.sleep(0.5)
    assert total == 5

    terminal.ctrl_c()
    pressed = time.monotonic()
    assert await asyncio.to_thread(terminal.process.wait, 30) == 0
    elapsed = time.monotonic() - pressed
    assert elapsed < 10, (
        f"Ctrl-C took {elapsed:.1f}s with Kafka:\n{terminal.text[-3000:]}"
    )  # its shutdown is slower
    assert _alive(processes) == set()


def _clickpipe(cwd: Path, *args: str) -> str:
    """A ``clickpipe`` command as the README shows it, run in ``cwd``; what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "clickpipe", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_what_a_user_made_outlives_a_restart(
    ports: dict[str, int], terminals: list[Terminal], tmp_path: Path
) -> None:
    # As the README says it: ``up``, then the accounts and keys commands in the same directory, then a link.
    home = tmp_path / "checkout"
    home.mkdir()
    first, processes = _up(terminals, ports, tmp_path / "up-1.log", cwd=home)
    assert f"data        {home / 'data'}" in first.text
    assert "clicks and counts are in memory" in first.text
    demo_key = re.search(r"cpk_[A-Za-z0-9_-]+", first.text)
    assert demo_key is not None
    account = re.search(r"account (\S+)", _clickpipe(home, "accounts", "create", "acme"))
    assert account is not None
    key = _clickpipe(home, "keys", "create", account.group(1)).strip()
    producer = f"http://127.0.0.1:{ports['producer']}"
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=producer, headers=headers) as client:
        body = {"slug": "keep", "default_destination": "https://example.com/kept"}
        created = await client.post("/api/links", json=body)
        assert created.status_code == 201, created.text
    first.ctrl_c()
    assert await asyncio.to_thread(first.process.wait, 30) == 0
    assert _alive(processes) == set()

    second, _ = _up(terminals, ports, tmp_path / "up-2.log", cwd=home)
    assert demo_key.group() in second.text  # the same demo key
    async with httpx.AsyncClient(base_url=producer, headers=headers) as client:
        links = await client.get("/api/links")
        assert links.status_code == 200, links.text
        assert [link["slug"] for link in links.json()["items"]] == ["keep"]
        redirect = await client.get("/keep")
        assert (redirect.status_code, redirect.headers["location"]) == (302, "https://example.com/kept")
        demo = await client.get("/api/links", headers={"Authorization": f"Bearer {demo_key.group()}"})
        assert demo.status_code == 200, demo.text


async def test_sigint_stops_up_started_with_sigint_ignored(ports: dict[str, int], tmp_path: Path) -> None:
    # A background job of a shell script starts with SIGINT ignored; ``kill -INT`` must still stop ``up``.
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "clickpipe", "up", "--data-dir", str(tmp_path / "data"),
                "--broker-port", str(ports["broker"]), "--producer-port", str(ports["producer"]),
                "--worker-port", str(ports["worker"]),
            ],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while BANNER not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert BANNER in log.read_text(), log.read_text()[-3000:]
        processes = _descendants(process.pid)
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 30) == 0, log.read_text()[-3000:]
        assert _alive(processes) == set()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
