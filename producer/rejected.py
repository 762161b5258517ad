"""Where click records go that must never be sent again: too large, unencodable, or refused by the broker.

A rejected record is set aside once and counted; it never blocks the records behind it. The file sink
appends one JSON line per record to ``<directory>/rejected.jsonl`` (mode 0600, directory 0700): when, why,
the error's type, the key, and the value in base64, so an operator can inspect or re-send it by hand.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

RejectReason = Literal["too_large", "unencodable", "refused"]
"""``too_large``: over the configured event size; ``unencodable``: does not fit the schema (e.g. a lone
surrogate); ``refused``: the broker refused the record for good (size, corrupt, invalid timestamp...)."""

REJECT_REASONS: tuple[RejectReason, ...] = ("too_large", "unencodable", "refused")
FILE_NAME = "rejected.jsonl"


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record set aside, and why."""

    key: bytes
    value: bytes
    reason: RejectReason
    error: str  # the error's type name, e.g. "MessageSizeTooLargeError"


class RejectedSink(Protocol):
    """Keeps rejected records. ``put`` never raises: a record it cannot keep is logged and lost."""

    def put(self, record: RejectedRecord) -> None:
        """Set ``record`` aside."""
        ...


class InMemoryRejectedSink:
    """A RejectedSink in a list: for tests and demos."""

    def __init__(self) -> None:
        self.records: list[RejectedRecord] = []

    def put(self, record: RejectedRecord) -> None:
        """Keep the record."""
        self.records.append(record)


class FileRejectedSink:
    """Appends rejected records as JSON lines to ``directory/rejected.jsonl``, private to the service's user.

    Rejections are rare (the events are capped in size before they get here), so each ``put`` opens,
    appends and closes the file on the caller's thread.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self._directory = directory

    def put(self, record: RejectedRecord) -> None:
        """Append the record; log (never raise) when the disk does not take it."""
        line = json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "reason": record.reason,
                "error": record.error,
                "key": record.key.decode("utf-8", "replace"),
                "value_base64": base64.b64encode(record.value).decode("ascii"),
                "value_bytes": len(record.value),
            }
        )
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode() + b"\n")
            finally:
                os.close(fd)
        except OSError:
            log.exception("LOST a rejected click record (%s): cannot append to %s", record.reason, self.path)
