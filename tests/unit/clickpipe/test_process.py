"""Child processes: own session, the whole group stopped, SIGKILL after a timeout, never left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clickpipe.process import ChildProcess

PYTHON = sys.executable
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
# A child starting a grandchild that ignores SIGTERM; prints its pid, waits (--stubborn: ignores it too).
FAMILY = textwrap.dedent(
    f"""
    import signal, subprocess, sys, time
    if "--stubborn" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", {STUBBORN!r}])
    print(grandchild.pid, flush=True)
    time.sleep(60)
    """
)


def _dead(pid: int) -> bool:
    """True when ``pid`` is gone or a zombie (dead, not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_dead(pids: list[int], timeout: float) -> list[int]:
    """Wait until every pid is dead; return the ones still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while [pid for pid in pids if not _dead(pid)] and time.monotonic() < deadline:
        time.sleep(0.02)
    return [pid for pid in pids if not _dead(pid)]


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):
            os.close(fd)


def _read_line(fd: int) -> str:
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        assert chunk, "the child exited before it printed"
        line += chunk
    return line.decode()


def test_child_runs_in_its_own_session(pipe: tuple[int, int]) -> None:
    child = ChildProcess("family", [PYTHON, "-c", FAMILY], output=pipe[1])
    try:
        _read_line(pipe[0])
        assert os.getsid(child.pid) == child.pid != os.getsid(0)
        assert os.getpgid(child.pid) == child.pid
    finally:
        child.stop(5)


def test_stop_takes_the_grandchildren_along(pipe: tuple[int, int]) -> None:
    child = ChildProcess("family", [PYTHON, "-c", FAMILY], output=pipe[1])
    grandchild = int(_read_line(pipe[0]))
    started = time.monotonic()
    assert child.stop(5) == -signal.SIGTERM
    assert time.monotonic() - started < 2
    assert _wait_dead([grandchild], 2) == []  # it ignored SIGTERM: the group's SIGKILL took it
    assert child.stop(5) == -signal.SIGTERM  # idempotent


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(pipe: tuple[int, int]) -> None:
    child = ChildProcess("family", [PYTHON, "-c", FAMILY, "--stubborn"], output=pipe[1])
    grandchild = int(_read_line(pipe[0]))
    started = time.monotonic()
    assert child.stop(0.3) == -signal.SIGKILL
    assert 0.3 <= time.monotonic() - started < 2
    assert _wait_dead([grandchild], 2) == []


# A parent that runs the family under a guard and prints the child's and the grandchild's pids.
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from clickpipe.process import ChildProcess, Guard
    guard = Guard(grace=0.5)
    read, write = os.pipe()
    child = ChildProcess("family", [sys.executable, "-c", sys.argv[1], *sys.argv[2:]], output=write)
    guard.watch(child)
    grandchild = os.read(read, 100).decode().strip()
    print(child.pid, grandchild, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("stubborn", [False, True], ids=["child-obeys-sigterm", "child-ignores-sigterm"])
def test_children_and_grandchildren_die_with_a_killed_parent(stubborn: bool) -> None:
    """SIGKILL the parent: PDEATHSIG SIGTERMs the child; the guard SIGKILLs its group after the grace."""
    argv = [PYTHON, "-c", PARENT, FAMILY, *(["--stubborn"] if stubborn else [])]
    parent = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    with parent.stdout:
        child, grandchild = (int(pid) for pid in parent.stdout.readline().split())
    assert not _dead(child) and not _dead(grandchild)
    parent.kill()
    parent.wait()
    assert _wait_dead([child, grandchild], 5) == []


def test_a_stopped_child_is_forgotten_by_the_guard(pipe: tuple[int, int]) -> None:
    from clickpipe.guard import guard

    child = ChildProcess("family", [PYTHON, "-c", FAMILY], output=pipe[1])
    grandchild = int(_read_line(pipe[0]))
    try:
        guard([f"{child.pid}\n", f"-{child.pid}\n"], grace=0.1)  # watched, then forgotten: left alone
        assert not _dead(child.pid) and not _dead(grandchild)
        guard([f"{child.pid}\n"], grace=0.1)
        assert _wait_dead([grandchild], 2) == []
        assert child.wait(2) in (-signal.SIGTERM, -signal.SIGKILL)
    finally:
        child.stop(1)
