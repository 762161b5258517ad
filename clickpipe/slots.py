"""Per-replica set-up for workers that share one volume and one service name (compose ``--scale``)."""

from __future__ import annotations

import fcntl
import socket
from pathlib import Path
from typing import IO

from clickpipe.errors import OperationsError


def claim_slot(base: Path, limit: int = 1024) -> tuple[Path, IO[str]]:
    """Claim the first free ``base/slot-N`` directory, held by a file lock for as long as the returned file
    stays open (until the process exits); a restarted replica gets a slot back with its local state."""
    base.mkdir(parents=True, exist_ok=True)
    for slot in range(limit):
        lock = (base / f"slot-{slot}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        directory = base / f"slot-{slot}"
        directory.mkdir(exist_ok=True)
        return directory, lock
    raise OperationsError(f"all {limit} worker slots under {base} are taken")


def own_address() -> str:
    """This host's address as other hosts on its network see it (the container's address in compose)."""
    return socket.gethostbyname(socket.gethostname())
