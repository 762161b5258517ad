"""The durable on-disk spool: clicks wait here, in order, while the broker cannot take them.

Layout: a directory of append-only segment files ``<20-digit sequence>.seg``. Each record is a header
(payload length, CRC32 of the payload: two little-endian uint32) and a payload (key length as uint32, key,
value). A new segment starts when the current one passes ``segment_bytes``. Records are read back oldest
first; a segment is deleted once every record in it has been acknowledged.

fsync policy (``fsync``):
- ``"always"`` (default): every ``append`` call is fsynced before it returns. The publisher appends whole
  batches, so this costs one fsync per batch. A power failure loses nothing that ``append`` returned from.
- ``"interval"``: fsync at most every ``fsync_interval`` seconds (and on ``flush``/``close``). A power failure
  can lose up to that much of the latest appends.
- ``"never"``: the OS decides. A power failure can lose whatever it had not written yet.
In every mode a crash of the process alone loses nothing: appended bytes are in the OS already.

Delivery is at least once: progress inside a partly acknowledged segment is kept in memory only, so after
a restart the oldest segment is replayed from its start. A record torn by a crash mid-write (short or
failing its CRC) ends its segment: it is skipped, counted in ``corrupt_records``, and logged.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, Self

from producer.errors import ProducerError

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")  # payload length, crc32
_KEY_LENGTH = struct.Struct("<I")
_SUFFIX = ".seg"

FsyncPolicy = Literal["always", "interval", "never"]


class SpoolError(ProducerError):
    """The spool could not write to disk (full, read-only, missing directory)."""


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records read from the spool, and where in the spool they end."""

    records: list[tuple[bytes, bytes]]
    segment: int
    end: int  # byte offset in ``segment`` after the last record
    segment_done: bool  # no record follows in that segment


class Spool:
    """An append-only, segmented, checksummed spool of (key, value) records.

    Args:
        directory: where segments live (created if missing); an existing spool there is resumed.
        segment_bytes: size after which a new segment is started.
        fsync: the fsync policy (see the module docstring).
        fsync_interval: seconds between fsyncs with ``fsync="interval"``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 4 * 1024 * 1024,
        fsync: FsyncPolicy = "always",
        fsync_interval: float = 1.0,
        _fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._policy = fsync
        self._interval = fsync_interval
        self._fsync = _fsync
        self._last_sync = 0.0
        self.corrupt_records = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {directory}: {exc}") from exc
        self._segments = sorted(
            int(path.stem) for path in directory.glob(f"*{_SUFFIX}") if path.stem.isdigit()
        )
        self._pending_records = sum(self._count(segment) for segment in self._segments)
        self._pending_bytes = sum(self._path(segment).stat().st_size for segment in self._segments)
        self.corrupt_records = 0  # counted once, when the records are read for delivery
        self._read_segment = self._segments[0] if self._segments else None
        self._read_offset = 0
        self._writer: BinaryIO | None = None
        self._write_segment: int | None = None
        self._dirty = False

    @property
    def pending_records(self) -> int:
        """Records appended and not yet acknowledged."""
        return self._pending_records

    @property
    def pending_bytes(self) -> int:
        """Bytes on disk in segments not yet deleted."""
        return self._pending_bytes

    def is_empty(self) -> bool:
        """True when every appended record has been acknowledged."""
        return self._pending_records == 0

    def append(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Append records in order (fsynced per the policy).

        Raises:
            SpoolError: the disk did not take them.
        """
        if not records:
            return
        chunks = []
        for key, value in records:
            payload = _KEY_LENGTH.pack(len(key)) + key + value
            chunks.append(_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        data = b"".join(chunks)
        try:
            writer = self._open_writer()
            writer.write(data)
            writer.flush()
            self._dirty = True
            self._sync(force=self._policy == "always")
            if writer.tell() >= self._segment_bytes:
                self._close_writer()
        except OSError as exc:
            raise SpoolError(f"cannot write to the spool in {self.directory}: {exc}") from exc
        self._pending_records += len(records)
        self._pending_bytes += len(data)

    def read_batch(self, max_records: int) -> SpoolBatch | None:
        """Return up to ``max_records`` of the oldest unacknowledged records (from one segment), or None."""
        while self._read_segment is not None:
            segment = self._read_segment
            if segment == self._write_segment:
                self._close_writer()  # reading the newest segment: seal it, later appends start another
            records, end, done = self._read(segment, self._read_offset, max_records)
            if records or not done:
                return SpoolBatch(records, segment, end, done)
            self._drop(segment)  # nothing (left) to read in it
        return None

    def ack(self, batch: SpoolBatch) -> None:
        """Mark a batch from ``read_batch`` as delivered; a fully delivered segment is deleted."""
        self._pending_records -= len(batch.records)
        if batch.segment_done:
            self._drop(batch.segment)
        else:
            self._read_offset = batch.end

    def flush(self) -> None:
        """fsync what was appended (whatever the policy)."""
        self._sync(force=True)

    def close(self) -> None:
        """fsync and close the current segment. Safe to call more than once."""
        self._close_writer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:020d}{_SUFFIX}"

    def _open_writer(self) -> BinaryIO:
        if self._writer is None:
            segment = (self._segments[-1] + 1) if self._segments else 1
            self._writer = self._path(segment).open("ab")
            self._write_segment = segment
            self._segments.append(segment)
            if self._read_segment is None:
                self._read_segment, self._read_offset = segment, 0
        return self._writer

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._sync(force=True)
            self._writer.close()
            self._writer = None
            self._write_segment = None

    def _sync(self, *, force: bool) -> None:
        if self._writer is None or not self._dirty or (self._policy == "never" and not force):
            return
        now = time.monotonic()
        if force or self._policy == "always" or now - self._last_sync >= self._interval:
            self._fsync(self._writer.fileno())
            self._last_sync = now
            self._dirty = False

    def _drop(self, segment: int) -> None:
        path = self._path(segment)
        size = path.stat().st_size if path.exists() else 0
        path.unlink(missing_ok=True)
        self._pending_bytes -= size
        self._segments.remove(segment)
        self._read_segment = self._segments[0] if self._segments else None
        self._read_offset = 0
        if self._read_segment is not None and self._read_segment == self._write_segment:
            self._read_offset = 0

    def _read(self, segment: int, offset: int, limit: int) -> tuple[list[tuple[bytes, bytes]], int, bool]:
        """Read up to ``limit`` records from ``offset``; return them, the end offset, and whether the
        segment is exhausted."""
        records: list[tuple[bytes, bytes]] = []
        with self._path(segment).open("rb") as file:
            file.seek(offset)
            while len(records) < limit:
                header = file.read(_HEADER.size)
                if not header:
                    return records, offset, True
                record = self._decode(file, header, segment, offset)
                if record is None:
                    return records, offset, True
                records.append(record)
                offset = file.tell()
            return records, offset, file.read(1) == b""

    def _decode(self, file: BinaryIO, header: bytes, segment: int, offset: int) -> tuple[bytes, bytes] | None:
        if len(header) < _HEADER.size:
            self._torn(segment, offset, "short header")
            return None
        length, crc = _HEADER.unpack(header)
        payload = file.read(length)
        if len(payload) < length or len(payload) < _KEY_LENGTH.size:
            self._torn(segment, offset, "short record")
            return None
        if zlib.crc32(payload) != crc:
            self._torn(segment, offset, "checksum mismatch")
            return None
        (key_length,) = _KEY_LENGTH.unpack_from(payload)
        key_end = _KEY_LENGTH.size + key_length
        if key_end > len(payload):
            self._torn(segment, offset, "bad key length")
            return None
        return payload[_KEY_LENGTH.size : key_end], payload[key_end:]

    def _torn(self, segment: int, offset: int, why: str) -> None:
        self.corrupt_records += 1
        log.warning(
            "spool segment %s: torn record at byte %d (%s); the rest of it is skipped", segment, offset, why
        )
        return None

    def _count(self, segment: int) -> int:
        count, offset = 0, 0
        while True:
            records, offset, done = self._read(segment, offset, 10_000)
            count += len(records)
            if done:
                return count
