"""The durable on-disk spool: clicks wait here, in order, while the broker cannot take them.

Layout: a directory of append-only segment files ``<20-digit number>.seg``. A record is a header (payload
length and CRC32 of the payload, two little-endian uint32) and a payload (key length as uint32, key, value).
Once a segment passes ``segment_bytes`` it is sealed and appends go on in a new one. Opening a directory
resumes it: its segments are replayed first, and appends go to a new segment after the last one.

Replay: ``read_batch`` returns the oldest unacknowledged records, from one segment at a time (a batch never
spans two segments, so it may hold fewer records than asked for). ``ack`` marks them delivered and deletes
a segment once all of it is; the segment being appended to is sealed when it is read, so that it can be.
Progress inside a segment is kept in memory only: after a restart the oldest segment is replayed from its
start. Delivery is at least once: a restart may repeat records, it never loses them.

A torn record (cut short or failing its CRC: a crash mid-write, a damaged disk) ends its segment: the
records before it are delivered, the bytes from it on are skipped and deleted with the segment, and it is
counted once in ``corrupt_records`` and logged as a warning.

fsync policy (``fsync``). In every mode a crash of the process alone loses nothing: ``append`` has handed
its bytes to the OS before it returns. What a power failure (or kernel crash) can lose:

- ``"always"`` (default): each ``append`` call is fsynced, with the directory when the call started a new
  segment, before it returns; the publisher appends whole batches, so that is one fsync per batch. Loses
  nothing ``append`` returned from.
- ``"interval"``: an ``append`` fsyncs when the last fsync is at least ``fsync_interval`` seconds old;
  ``close`` and sealing a segment always fsync. Loses what was appended since the last fsync:
  at most ``fsync_interval`` seconds of appends while they keep coming. There is no timer: the tail of a
  burst waits for the next append or ``close`` (or for the OS to write it back by itself).
- ``"never"``: no fsync at all. Loses whatever the OS had not
  written back yet (on Linux, typically up to ~30 s of appends).

Cap: with ``max_bytes``, ``append`` takes the longest prefix of its records that keeps ``pending_bytes``
within it, and says how many it took. Files are private to the service's user: segments 0600, the
directory 0700.

``pending_records`` is exact, also after a restart: opening reads every segment once to count its records
(checking CRCs), so opening takes longer the larger the backlog. Not thread-safe: one caller at a time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, Self

from producer.errors import SpoolError

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes]  # (key, value)
FsyncPolicy = Literal["always", "interval", "never"]

_HEADER = struct.Struct("<II")  # payload length, CRC32 of the payload
_KEY_LENGTH = struct.Struct("<I")
_SUFFIX = SEGMENT_SUFFIX = ".seg"
_COUNT_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class SpoolPosition:
    """Where a batch lies in the spool. Opaque: only ``Spool.ack`` reads it."""

    segment: int
    start: int
    end: int
    segment_done: bool


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records read from the spool, oldest first, and where they lie (pass the batch to ``Spool.ack``)."""

    records: list[Record]
    position: SpoolPosition


class Spool:
    """An append-only, segmented, checksummed spool of (key, value) records; see the module docstring.

    Args:
        directory: where segments live (created if missing); a spool already there is resumed.
        segment_bytes: size past which the current segment is sealed and a new one started.
        fsync: the fsync policy.
        fsync_interval: least seconds between fsyncs of ``append`` with ``fsync="interval"``.
        max_bytes: the cap on ``pending_bytes`` (None: no cap).
        _fsync: ``os.fsync``; tests pass a fake.
        _write: ``os.write``; tests pass one that fails.
        _clock: ``time.monotonic``; tests pass a fake.

    Raises:
        SpoolError: the directory cannot be created or read.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 4 * 1024 * 1024,
        fsync: FsyncPolicy = "always",
        fsync_interval: float = 1.0,
        max_bytes: int | None = None,
        _fsync: Callable[[int], None] = os.fsync,
        _write: Callable[[int, memoryview], int] = os.write,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fsync not in ("always", "interval", "never"):
            raise ValueError(f"unknown fsync policy {fsync!r}")
        self.directory = directory
        self.corrupt_records = 0
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._policy = fsync
        self._interval = fsync_interval
        self._fsync = _fsync
        self._write = _write
        self._clock = _clock
        self._torn_at: set[tuple[int, int]] = set()  # (segment, offset) already counted
        self._fd: int | None = None  # the segment being appended to
        self._write_segment = 0
        self._write_size = 0
        self._dirty = False  # appended since the last fsync
        self._directory_dirty = False  # a segment was created since the last fsync
        self._last_sync = -math.inf
        self._read_offset = 0  # in the oldest segment
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
            found = (path.stem for path in directory.glob(f"*{_SUFFIX}") if path.is_file())
            self._segments = sorted(int(stem) for stem in found if stem.isascii() and stem.isdigit())
            self._sizes = {segment: self._path(segment).stat().st_size for segment in self._segments}
            self._pending_records = sum(self._count(segment) for segment in self._segments)
        except OSError as exc:
            raise SpoolError(f"cannot open the spool in {directory}: {exc}") from exc
        self._next_segment = self._segments[-1] + 1 if self._segments else 1

    @property
    def pending_records(self) -> int:
        """Records appended and not yet acknowledged."""
        return self._pending_records

    @property
    def pending_bytes(self) -> int:
        """Bytes in segments not yet deleted (a partly acknowledged segment counts whole)."""
        return sum(self._sizes.values())

    def is_empty(self) -> bool:
        """True when every appended record has been acknowledged."""
        return self._pending_records == 0

    @property
    def room_bytes(self) -> int | None:
        """Bytes ``append`` may still add before the cap (None: no cap)."""
        return None if self._max_bytes is None else max(0, self._max_bytes - self.pending_bytes)

    def append(self, records: Sequence[Record]) -> int:
        """Append records after everything already spooled, fsynced per the policy; return how many were
        taken: all of them, or at the cap the longest prefix that fits (maybe none). ``[]`` does nothing.

        Raises:
            SpoolError: the disk did not take them; none of them is in the spool.
        """
        encoded = [_encode(key, value) for key, value in records]
        room = self.room_bytes
        if room is not None:
            fits = 0
            for item in encoded:
                if len(item) > room:
                    break
                room -= len(item)
                fits += 1
            encoded, records = encoded[:fits], records[:fits]
        if not records:
            return 0
        data = b"".join(encoded)
        try:
            fd = self._writer()
        except OSError as exc:
            raise SpoolError(f"cannot create a spool segment in {self.directory}: {exc}") from exc
        start, end = self._write_size, self._write_size + len(data)
        full = end >= self._segment_bytes
        try:
            view = memoryview(data)
            while view:
                view = view[self._write(fd, view) :]
            self._dirty = True
            self._sync(
                force=full and self._policy != "never"
            )  # a sealed segment is synced (but with "never")
        except OSError as exc:
            path = self._path(self._write_segment)
            self._cut_back(fd, start)
            raise SpoolError(f"cannot write {len(records)} records to {path}: {exc}") from exc
        self._write_size = self._sizes[self._write_segment] = end
        self._pending_records += len(records)
        if full:
            with contextlib.suppress(OSError):  # written and synced: only the close of the file is left
                self._seal()
        return len(records)

    def read_batch(self, max_records: int) -> SpoolBatch | None:
        """Return up to ``max_records`` of the oldest unacknowledged records (all from one segment), or None
        when there are none. Until they are acknowledged, the next call returns them again.

        Raises:
            SpoolError: a segment could not be read.
        """
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        try:
            while self._segments:
                segment, start = self._segments[0], self._read_offset
                if segment == self._write_segment and self._fd is not None:
                    self._seal()  # so that it can be deleted once delivered; appends go on in a new one
                records, end, done = self._read(segment, start, max_records)
                if records:
                    return SpoolBatch(records, SpoolPosition(segment, start, end, done))
                self._drop(segment)  # nothing (left) in it but torn bytes
        except OSError as exc:
            raise SpoolError(f"cannot read the spool in {self.directory}: {exc}") from exc
        return None

    def ack(self, batch: SpoolBatch) -> None:
        """Mark the batch last returned by ``read_batch`` as delivered; delete its segment if that is done.

        Raises:
            ValueError: the batch is not the oldest unacknowledged one (acknowledged twice, out of order).
        """
        position = batch.position
        if not self._segments or (position.segment, position.start) != (self._segments[0], self._read_offset):
            raise ValueError("this batch is not the oldest unacknowledged one (acknowledged twice?)")
        self._pending_records -= len(batch.records)
        if position.segment_done:
            self._drop(position.segment)
        else:
            self._read_offset = position.end

    def close(self) -> None:
        """Seal the segment being appended to (fsynced unless the policy is ``"never"``). Idempotent; an
        ``append`` after it starts a new segment.

        Raises:
            SpoolError: the fsync failed.
        """
        try:
            self._seal()
        except OSError as exc:
            raise SpoolError(f"cannot fsync the spool in {self.directory}: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _path(self, segment: int) -> Path:
        return self.directory / segment_name(segment)

    def _writer(self) -> int:
        if self._fd is None:
            segment = self._next_segment
            self._fd = os.open(self._path(segment), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._next_segment += 1
            self._write_segment, self._write_size = segment, 0
            self._segments.append(segment)
            self._sizes[segment] = 0
            self._directory_dirty = True
        return self._fd

    def _sync(self, *, force: bool) -> None:
        if self._fd is None or not self._dirty:
            return
        now = self._clock()
        due = self._policy == "always" or (
            self._policy == "interval" and now - self._last_sync >= self._interval
        )
        if not (force or due):
            return
        self._fsync(self._fd)
        if self._directory_dirty:  # else a power failure may lose the new segment's name
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                self._fsync(directory)
            finally:
                os.close(directory)
            self._directory_dirty = False
        self._last_sync, self._dirty = now, False

    def _seal(self) -> None:
        if self._fd is None:
            return
        try:
            self._sync(force=self._policy != "never")
        finally:
            fd, self._fd = self._fd, None
            self._dirty = self._directory_dirty = False
            os.close(fd)

    def _cut_back(self, fd: int, size: int) -> None:
        """After a failed append: cut the segment back to its last whole record, then seal it."""
        segment = self._write_segment
        try:
            os.ftruncate(fd, size)
        except OSError:
            log.exception("spool segment %s: cannot cut off a failed append; it reads as torn", segment)
            with contextlib.suppress(OSError):  # count what did get there: it will be replayed
                self._sizes[segment] = self._path(segment).stat().st_size
                self._pending_records += self._count(segment, size)
        with contextlib.suppress(OSError):
            self._seal()

    def _drop(self, segment: int) -> None:
        """Forget the oldest segment and delete its file."""
        path = self._path(segment)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning(
                "cannot delete delivered spool segment %s (%s): a restart replays it again", path, exc
            )
        self._segments.remove(segment)
        del self._sizes[segment]
        self._read_offset = 0

    def _read(self, segment: int, offset: int, limit: int) -> tuple[list[Record], int, bool]:
        """Read up to ``limit`` records from ``offset``: the records, the offset after them, and whether
        the segment has nothing more to read."""
        records: list[Record] = []
        with self._path(segment).open("rb") as file:
            file.seek(offset)
            while len(records) < limit:
                record = self._read_record(file, segment, offset)
                if record is None:
                    return records, offset, True
                records.append(record)
                offset = file.tell()
            return records, offset, not file.read(1)

    def _read_record(self, file: BinaryIO, segment: int, offset: int) -> Record | None:
        """The record at ``offset``, or None at the end of the segment or at a torn record."""
        header = file.read(_HEADER.size)
        if not header:
            return None
        if len(header) < _HEADER.size:
            self._torn(segment, offset, "short header")
            return None
        length, crc = _HEADER.unpack(header)
        payload = file.read(length)
        if len(payload) < length:
            self._torn(segment, offset, "short payload")
            return None
        if zlib.crc32(payload) != crc:
            self._torn(segment, offset, "CRC mismatch")
            return None
        key_end = _KEY_LENGTH.size + (
            _KEY_LENGTH.unpack_from(payload)[0] if length >= _KEY_LENGTH.size else 0
        )
        if key_end > length:
            self._torn(segment, offset, "bad key length")
            return None
        return payload[_KEY_LENGTH.size : key_end], payload[key_end:]

    def _torn(self, segment: int, offset: int, why: str) -> None:
        if (segment, offset) in self._torn_at:
            return
        self._torn_at.add((segment, offset))
        self.corrupt_records += 1
        log.warning(
            "spool segment %s: torn record at byte %d (%s); the rest of it is skipped", segment, offset, why
        )

    def _count(self, segment: int, offset: int = 0) -> int:
        count = 0
        while True:
            records, offset, done = self._read(segment, offset, _COUNT_CHUNK)
            count += len(records)
            if done:
                return count


def segment_name(number: int) -> str:
    """The file name of segment ``number``."""
    return f"{number:020d}{_SUFFIX}"


def _encode(key: bytes, value: bytes) -> bytes:
    payload = _KEY_LENGTH.pack(len(key)) + key + value
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
