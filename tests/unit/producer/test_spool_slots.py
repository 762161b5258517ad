"""Spool slots: a directory per process; a spool left by a process that is gone is adopted, never lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from producer.spool import Spool
from producer.spool_slots import claim_slot

CHILD = """
import sys
from pathlib import Path
from producer.spool import Spool
from producer.spool_slots import claim_slot
slot = claim_slot(Path(sys.argv[1]))
with Spool(slot.directory) as spool:
    spool.append([(b"k", b"from-%d-%d" % (slot.number, i)) for i in range(3)])
print(slot.number, flush=True)
sys.stdin.read()  # hold the slot until told to go
"""


def _records(directory: Path) -> list[bytes]:
    values = []
    with Spool(directory) as spool:
        while (batch := spool.read_batch(100)) is not None:
            values += [value for _, value in batch.records]
            spool.ack(batch)
    return values


def test_live_claims_get_their_own_directories(tmp_path: Path) -> None:
    first, second = claim_slot(tmp_path), claim_slot(tmp_path)
    assert (first.number, second.number) == (0, 1)
    assert first.directory != second.directory and first.directory.is_dir() and second.directory.is_dir()
    first.release()
    again = claim_slot(tmp_path)
    assert again.number == 0
    again.release()
    second.release()


def test_a_held_slot_is_not_adopted(tmp_path: Path) -> None:
    held = claim_slot(tmp_path)
    with Spool(held.directory) as spool:
        spool.append([(b"k", b"held")])
    other = claim_slot(tmp_path)
    assert other.adopted == 0
    assert _records(held.directory) == [b"held"]
    held.release()
    other.release()


def test_spools_of_processes_that_are_gone_are_adopted_in_order(tmp_path: Path) -> None:
    base = tmp_path / "spool"
    with Spool(base) as legacy:  # the layout before slots: segments right in SPOOL_DIR
        legacy.append([(b"k", b"legacy")])
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(base)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    numbers = sorted(int(child.stdout.readline()) for child in children if child.stdout is not None)
    assert numbers == [0, 1]
    third = claim_slot(base)
    assert (third.number, third.adopted) == (2, 0)  # both alive: a slot of its own, nothing to adopt
    third.release()
    for child in children:
        child.kill()  # no clean-up: the OS drops the locks
        child.wait()
        if child.stdin is not None:
            child.stdin.close()
        if child.stdout is not None:
            child.stdout.close()
    slot = claim_slot(base)
    assert (slot.number, slot.adopted) == (0, 1)  # slot 1's segment; slot 0's (and the legacy one) it resumes
    values = _records(slot.directory)
    assert sorted(values) == sorted([b"legacy", *(b"from-%d-%d" % (n, i) for n in (0, 1) for i in range(3))])
    assert [v for v in values if v.startswith(b"from-1")] == [b"from-1-0", b"from-1-1", b"from-1-2"]
    assert not (base / "1").exists()
    slot.release()
