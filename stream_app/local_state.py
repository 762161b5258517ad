"""Whether the worker's local table state (RocksDB) may be used again at start: only after a clean stop.

Faust recovers a table partition by replaying its changelog from the last record the local store saw
acknowledged, over whatever the local store holds. After a clean stop the two agree. After SIGKILL (or a
crash) the local store may hold writes the changelog never received, and the replay then writes older
values over some of them and leaves others: a mix no run ever wrote. The worker's rows are a base and
segments whose keys are written again after each compaction, so such a mix can pair a row's newer offset
with an older segment and lose the clicks in between (seen on Kafka: 9 of 20,001 after a SIGKILL amid
amendments). The source offsets committed cover only writes the changelog acknowledged, so the changelog
alone is a consistent state to resume from: after an unclean stop the local state is removed and the
changelog recovered whole, as a worker taking the partitions over on another machine does (Kafka Streams
wipes its stores after an unclean exactly-once shutdown for the same reason).

A run marks its data directory at start as running and at a clean stop as cleanly stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

CLEAN_STOP = "clean-stop"
"""The file a cleanly stopped worker leaves in its data directory (removed at every start)."""


def claim(data_dir: Path, tabledir: Path) -> bool:
    """At start: keep the local table state if the last run stopped cleanly, else remove it (the
    changelog is recovered instead); True when it was kept. Either way the mark is removed, so a run that
    dies leaves none."""
    mark = data_dir / CLEAN_STOP
    clean = mark.is_file()
    mark.unlink(missing_ok=True)
    if clean or not tabledir.exists():
        return True
    log.warning(
        "the last run in %s did not stop cleanly: its local table state may hold writes the changelog "
        "lacks, so it is removed and the changelog recovered whole",
        data_dir,
    )
    shutil.rmtree(tabledir)
    return False


def mark_clean(data_dir: Path) -> None:
    """At a clean stop (every table write acknowledged, the stores closed): the next start keeps the state."""
    mark = data_dir / CLEAN_STOP
    descriptor = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
