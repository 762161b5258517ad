"""The on-disk spool: order, segments, restarts, torn records, fsync policy, errors."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

import pytest

from producer.errors import SpoolError
from producer.spool import FsyncPolicy, Spool, SpoolBatch
from tests.clock import ManualClock

Record = tuple[bytes, bytes]


def records(start: int, count: int) -> list[Record]:
    return [(f"k{i}".encode(), f"value-{i}".encode() * 3) for i in range(start, start + count)]


def drain(spool: Spool, per_batch: int = 7) -> list[Record]:
    out: list[Record] = []
    while (batch := spool.read_batch(per_batch)) is not None:
        out += batch.records
        spool.ack(batch)
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


class Syncs:
    """A fake fsync that tells segment files from the directory."""

    def __init__(self) -> None:
        self.files = 0
        self.directories = 0

    def __call__(self, fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            self.directories += 1
        else:
            self.files += 1


def test_order_is_kept_across_appends_and_segments(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=256) as spool:
        for start in range(0, 500, 10):
            spool.append(records(start, 10))
        assert len(segments(tmp_path)) > 10
        assert spool.pending_records == 500
        assert spool.pending_bytes == sum(path.stat().st_size for path in segments(tmp_path))
        assert drain(spool) == records(0, 500)
        assert spool.is_empty()
        assert spool.pending_bytes == 0
    assert segments(tmp_path) == []  # delivered segments are deleted


def test_read_ack_cycles_count_down_and_a_batch_stays_in_one_segment(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=10_000) as spool:
        spool.append(records(0, 5))
        spool.close()  # seals the segment: the next records go to a second one
        spool.append(records(5, 5))
        batch = spool.read_batch(100)
        assert batch is not None
        assert batch.records == records(0, 5)  # not more: the batch ends with its segment
        assert spool.pending_records == 10
        spool.ack(batch)
        assert spool.pending_records == 5
        assert len(segments(tmp_path)) == 1
        assert drain(spool, per_batch=2) == records(5, 5)
        assert spool.read_batch(10) is None


def test_a_batch_not_acknowledged_is_read_again(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 5))
        first = spool.read_batch(3)
        again = spool.read_batch(3)
        assert first is not None
        assert again == first
        spool.ack(again)
        assert drain(spool) == records(3, 2)


def test_a_batch_cannot_be_acknowledged_twice(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 5))
        batch = spool.read_batch(2)
        assert isinstance(batch, SpoolBatch)
        spool.ack(batch)
        with pytest.raises(ValueError, match="acknowledged twice"):
            spool.ack(batch)
        assert spool.pending_records == 3


def test_appends_between_reads_come_after_what_was_there(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=10_000) as spool:
        spool.append(records(0, 5))
        batch = spool.read_batch(3)
        assert batch is not None
        spool.ack(batch)
        spool.append(records(5, 5))
        assert drain(spool) == records(3, 7)


def test_appends_after_the_live_segment_was_delivered_are_kept(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 5))
        batch = spool.read_batch(100)  # all of the segment being appended to
        assert batch is not None
        spool.ack(batch)  # its file is deleted
        spool.append(records(5, 5))
        assert spool.pending_records == 5
        assert drain(spool) == records(5, 5)


def test_a_reopened_spool_replays_what_was_not_acknowledged(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        spool.append(records(0, 30))
        spool.append(records(30, 30))
        oldest = segments(tmp_path)[0]
        acked = spool.read_batch(1_000)  # the whole first segment
        assert acked is not None
        spool.ack(acked)
    assert not oldest.exists()  # acknowledged segments are gone from disk
    left = 60 - len(acked.records)
    with Spool(tmp_path) as reopened:
        assert reopened.pending_records == left
        reopened.append(records(60, 5))  # after what was there
        assert drain(reopened) == records(len(acked.records), left + 5)
    assert segments(tmp_path) == []


def test_a_partly_acknowledged_segment_is_replayed_whole_after_a_restart(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 10))
        batch = spool.read_batch(4)
        assert batch is not None
        spool.ack(batch)
    with Spool(tmp_path) as reopened:
        assert drain(reopened) == records(0, 10)  # at least once: duplicates, never losses


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    key, value = records(9, 1)[0]  # the last record
    if how == "short header":
        del data[-(8 + 4 + len(key) + len(value) - 5) :]  # 5 of its 8 header bytes are left
    elif how == "short payload":
        del data[-5:]
    else:  # "checksum"
        data[-3] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["short header", "short payload", "checksum"])
def test_a_torn_last_record_is_skipped_and_counted(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 10))
    [segment] = segments(tmp_path)
    damage(segment, how)
    with Spool(tmp_path) as reopened:
        assert reopened.pending_records == 9
        first = reopened.read_batch(100)
        again = reopened.read_batch(100)  # not acknowledged: read again, counted once
        assert first is not None
        assert first == again
        assert first.records == records(0, 9)
        reopened.ack(first)
        assert reopened.read_batch(100) is None
        assert reopened.corrupt_records == 1
        assert reopened.is_empty()
    assert segments(tmp_path) == []  # the torn bytes went with their segment
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "torn record" in r.message]
    assert len(warnings) == 1


def test_a_torn_record_ends_its_segment_only(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 10))
        spool.close()
        spool.append(records(10, 10))
    first, _ = segments(tmp_path)
    damage(first, "checksum")
    with Spool(tmp_path) as reopened:
        assert drain(reopened, per_batch=4) == records(0, 9) + records(10, 10)
        assert reopened.corrupt_records == 1


def test_fsync_always_syncs_every_append_and_each_new_segment_name(tmp_path: Path) -> None:
    syncs = Syncs()
    with Spool(tmp_path, segment_bytes=200, _fsync=syncs) as spool:
        for start in range(0, 30, 3):
            spool.append(records(start, 3))
        assert syncs.files == 10
        assert syncs.directories == len(segments(tmp_path))
    assert syncs.files == 10  # nothing was left to sync on close


def test_fsync_interval_syncs_at_most_once_per_interval_and_on_close(tmp_path: Path) -> None:
    syncs, clock = Syncs(), ManualClock(100.0)
    spool = Spool(tmp_path, fsync="interval", fsync_interval=1.0, _fsync=syncs, _clock=clock)
    spool.append(records(0, 1))
    assert syncs.files == 1  # the first append finds the last fsync long past
    assert syncs.directories == 1
    clock.now += 0.5
    spool.append(records(1, 1))
    assert syncs.files == 1
    clock.now += 0.5
    spool.append(records(2, 1))
    assert syncs.files == 2
    clock.now += 0.1
    spool.append(records(3, 1))
    assert syncs.files == 2  # within the interval of the last one
    spool.close()
    assert syncs.files == 3  # closing syncs what was appended since
    spool.close()
    assert syncs.files == 3


def test_fsync_never_leaves_it_to_the_os(tmp_path: Path) -> None:
    syncs = Syncs()
    spool = Spool(tmp_path, segment_bytes=200, fsync="never", _fsync=syncs)
    for start in range(0, 27, 3):  # the last segment is still being appended to
        spool.append(records(start, 3))
    assert len(segments(tmp_path)) > 1
    assert (syncs.files, syncs.directories) == (0, 0)
    spool.append(records(30, 1))
    spool.close()
    assert (syncs.files, syncs.directories) == (0, 0)


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpoolError, match=str(tmp_path / "file" / "spool")) as caught:
        Spool(tmp_path / "file" / "spool")
    assert isinstance(caught.value.__cause__, OSError)


def test_an_append_the_directory_refuses_is_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        directory.rmdir()
        directory.write_text("not a directory")  # as root, chmod would not stop the write
        with pytest.raises(SpoolError, match=str(directory)) as caught:
            spool.append(records(0, 1))
        assert isinstance(caught.value.__cause__, OSError)
        assert spool.is_empty()


def test_a_full_disk_mid_append_loses_no_earlier_record(tmp_path: Path) -> None:
    failing = False

    def write(fd: int, data: memoryview) -> int:
        if failing:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    with Spool(tmp_path, _write=write) as spool:
        spool.append(records(0, 5))
        failing = True
        with pytest.raises(SpoolError, match=r"\.seg.*No space left"):
            spool.append(records(5, 5))
        failing = False
        assert spool.pending_records == 5
        spool.append(records(10, 5))  # goes to a new segment after the cut-back one
        assert drain(spool) == records(0, 5) + records(10, 5)
        assert spool.corrupt_records == 0


def test_empty_appends_do_nothing(tmp_path: Path) -> None:
    syncs = Syncs()
    with Spool(tmp_path, _fsync=syncs) as spool:
        spool.append([])
        assert spool.is_empty()
        assert spool.read_batch(10) is None
    assert segments(tmp_path) == []
    assert syncs.files == 0


def test_large_and_empty_payloads_round_trip(tmp_path: Path) -> None:
    big = [(b"k", bytes(range(256)) * 4096), (b"", b""), (b"key" * 1000, b"v" * 3_000_000)]
    with Spool(tmp_path, segment_bytes=1024) as spool:
        spool.append(big[:2])
        spool.append(big[2:])
        assert drain(spool, per_batch=1) == big
    with Spool(tmp_path) as reopened:
        assert reopened.is_empty()


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_every_policy_keeps_what_a_process_crash_leaves(tmp_path: Path, policy: FsyncPolicy) -> None:
    spool = Spool(tmp_path, fsync=policy, _fsync=Syncs())
    spool.append(records(0, 20))
    # No close: the process "dies" here. The bytes are in the OS, so a new spool finds all of them.
    with Spool(tmp_path) as reopened:
        assert drain(reopened) == records(0, 20)
    spool.close()


def test_at_its_cap_the_spool_takes_the_prefix_that_fits_and_says_how_many(tmp_path: Path) -> None:
    size = 8 + 4 + 2 + 21  # header, key length, key, value
    with Spool(tmp_path, max_bytes=size * 5) as spool:
        assert spool.append([(b"k0", b"v" * 21)] * 3) == 3
        assert spool.room_bytes == size * 2
        assert spool.append([(b"k1", b"v" * 21)] * 3) == 2
        assert spool.append([(b"k2", b"v" * 21)]) == 0
        assert (spool.pending_records, spool.pending_bytes, spool.room_bytes) == (5, size * 5, 0)
        assert len(drain(spool)) == 5
        assert spool.room_bytes == size * 5  # delivered segments free their room


def test_spool_files_are_private_to_the_service(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    with Spool(directory) as spool:
        spool.append(records(0, 1))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [stat.S_IMODE(path.stat().st_mode) for path in segments(directory)] == [0o600]
