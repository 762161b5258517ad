"""Child processes that never outlive the command that started them.

Three guards, from the gentlest:

- ``ChildProcess`` runs each child in a session (and process group) of its own, so Ctrl-C in a terminal
  reaches only the parent, which stops the children in the order it chooses; ``stop`` signals the whole
  group, so grandchildren go too, and SIGKILLs it after a timeout.
- ``PR_SET_PDEATHSIG`` has Linux SIGTERM a child the moment its parent dies, even by SIGKILL.
- A ``Guard``, a watchdog process that outlives the parent: when the parent is gone, however it went, it
  stops the children's process groups (grandchildren too), with SIGKILL after a grace period, so a child
  stuck in its shutdown (a worker whose broker died first) is not left behind either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A ``preexec_fn``: ask Linux to SIGTERM this child when its parent dies.

    Linux ties this to the parent *thread*: start such children from the main thread, or they are
    SIGTERMed when the thread that started them ends.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _die_with(parent_pid: int) -> Callable[[], None]:
    """Return a ``preexec_fn`` asking Linux to SIGTERM the child when ``parent_pid`` (its parent) dies."""

    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        die_with_parent()
        if os.getppid() != parent_pid:  # the parent died before prctl: nobody will signal us
            os._exit(1)

    return preexec


def terminate(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM ``process``, SIGKILL it after ``timeout`` seconds; return its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


class Guard:
    """A watchdog process that outlives this one: once this process is gone, however it went (even SIGKILL),
    it SIGTERMs the process groups of the children it watches, last watched first, and SIGKILLs what is left
    of them after ``grace`` seconds.

    It takes along grandchildren and children stuck in their shutdown, which ``PR_SET_PDEATHSIG`` alone does
    not. It listens on a pipe only this process writes to, one group id a line; EOF means "I am gone".
    """

    def __init__(self, grace: float = 3.0) -> None:
        read, write = os.pipe()  # both non-inheritable: only the guard gets the read end, as its stdin
        try:
            script = str(Path(__file__).with_name("guard.py"))  # a file: the guard imports only the stdlib
            self._process = ChildProcess(
                "guard", [sys.executable, script, str(grace)], stdin=read, die_with_parent=False
            )
        finally:
            os.close(read)
        self._pipe: IO[str] | None = os.fdopen(write, "w", buffering=1)

    def watch(self, child: ChildProcess) -> None:
        """Stop ``child``'s process group when this process is gone."""
        self._send(str(child.pid))

    def forget(self, child: ChildProcess) -> None:
        """``child`` was stopped: leave its id, soon reused, alone."""
        self._send(f"-{child.pid}")

    def _send(self, line: str) -> None:
        if self._pipe is not None:
            self._pipe.write(line + "\n")

    def close(self, timeout: float = 5.0) -> None:
        """Let the guard stop whatever it still watches, and wait for it. Safe to call more than once."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout)


class ChildProcess:
    """A command in a session of its own that dies with this process; ``stop`` stops its whole group.

    Args:
        name: what it is, for messages (``producer``, ``worker``, ``broker``).
        argv: the command.
        env: its environment (default: this process's).
        output: where its stdout and stderr go (default: inherited).
        stdin: its stdin (default: nothing).
        die_with_parent: SIGTERM it when this process dies (``PR_SET_PDEATHSIG``).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        output: IO[bytes] | int | None = None,
        stdin: int = subprocess.DEVNULL,
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        self._process = subprocess.Popen(  # noqa: S603 - argv from our own code, no shell
            list(argv),
            env=None if env is None else dict(env),
            stdin=stdin,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()) if die_with_parent else None,
        )

    @property
    def pid(self) -> int:
        """Its process id (and its process group's and session's)."""
        return self._process.pid

    def poll(self) -> int | None:
        """Its exit code, or None while it runs."""
        return self._process.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Block until it exits (``subprocess.TimeoutExpired`` after ``timeout``); return its exit code."""
        return self._process.wait(timeout)

    def stop(self, timeout: float) -> int:
        """SIGTERM its process group, SIGKILL the group after ``timeout`` seconds; return its exit code.

        Whatever is left in the group once the child has exited (grandchildren) is SIGKILLed too. Safe to
        call more than once.
        """
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
        code = self._process.wait()
        self._signal_group(signal.SIGKILL)  # stragglers; a group outlives its leader while members remain
        return code

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)
