"""The guard process of ``clickpipe.process.Guard``; run as a file, so it imports nothing but the stdlib.

Reads process group ids from stdin, one a line (``-ID`` forgets one), until EOF: the command that started it
is gone, however it went. Then it SIGTERMs the groups, and SIGKILLs what is left of them after GRACE seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time


def _signal(group: int, signum: int) -> bool:
    """Send ``signum`` to process group ``group``; False when the group is gone."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the id went to someone else's group meanwhile
        return False
    return True


def guard(lines: list[str] | None = None, grace: float = 3.0) -> None:
    """Track groups from ``lines`` (default: stdin, until EOF), then stop the ones still there."""
    groups: list[int] = []
    for line in sys.stdin if lines is None else lines:
        with contextlib.suppress(ValueError):
            group = int(line)
            if group > 0:
                groups.append(group)
            elif -group in groups:
                groups.remove(-group)
    alive = [group for group in reversed(groups) if _signal(group, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)  # not our children: nothing to wait on but their absence
        alive = [group for group in alive if _signal(group, 0)]
    for group in alive:
        _signal(group, signal.SIGKILL)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    guard(grace=float(sys.argv[1]))
