"""A spool directory per process, when several processes serve one data directory; none left behind.

Layout: slot ``n`` is ``SPOOL_DIR/<n>/``, owned by the process holding an exclusive ``flock`` on
``SPOOL_DIR/<n>.lock`` for as long as it runs (the OS drops the lock of a process that is gone, however it
ended). A process claims the lowest free slot and resumes what is in it; then it adopts every other slot
whose lock it can take (its process is gone, and no process has claimed it since): their segments move into
its own directory, after its own, by rename, so a crash half-way loses none. Segments lying in ``SPOOL_DIR``
itself (a spool from before slots) are adopted the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from producer.errors import SpoolError
from producer.spool import SEGMENT_SUFFIX, segment_name


@dataclass
class SpoolSlot:
    """A claimed spool directory; the claim lasts until ``release`` or the process ends."""

    number: int
    directory: Path
    adopted: int = 0  # segments taken over from slots whose process is gone
    _fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        """Give the slot up. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


def claim_slot(base: Path) -> SpoolSlot:
    """Claim the lowest free slot under ``base`` and adopt the segments of slots nobody holds.

    Raises:
        SpoolError: ``base`` cannot be created, locked or written.
    """
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        number = 0
        while (fd := _try_lock(base, number)) is None:
            number += 1
        directory = base / str(number)
        directory.mkdir(mode=0o700, exist_ok=True)
        slot = SpoolSlot(number, directory, _fd=fd)
        slot.adopted = _adopt(base, slot)
    except OSError as exc:
        raise SpoolError(f"cannot claim a spool directory in {base}: {exc}") from exc
    return slot


def _try_lock(base: Path, number: int) -> int | None:
    fd = os.open(base / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _adopt(base: Path, slot: SpoolSlot) -> int:
    """Move the segments of unheld slots (and of ``base`` itself) into ``slot``; return how many."""
    adopted = _move_segments(base, slot.directory)
    for path in sorted(base.glob("*.lock")):
        if not path.stem.isdigit() or int(path.stem) == slot.number:
            continue
        fd = _try_lock(base, int(path.stem))
        if fd is None:
            continue  # a live process owns it
        try:
            orphan = base / path.stem
            if orphan.is_dir():
                adopted += _move_segments(orphan, slot.directory)
                with contextlib.suppress(OSError):
                    orphan.rmdir()  # only when empty
        finally:
            os.close(fd)
    return adopted


def _move_segments(source: Path, target: Path) -> int:
    segments = sorted(path for path in source.glob(f"*{SEGMENT_SUFFIX}") if path.stem.isdigit())
    if not segments:
        return 0
    own = [int(path.stem) for path in target.glob(f"*{SEGMENT_SUFFIX}") if path.stem.isdigit()]
    next_number = max(own, default=0) + 1
    for number, path in enumerate(segments, start=next_number):
        path.rename(target / segment_name(number))
    for directory in (target, source):  # make the renames durable
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return len(segments)
