"""The on-disk spool: order, segments, restarts, torn records, fsync policy, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.spool import Spool, SpoolError


def records(start: int, count: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i}".encode(), f"value-{i}".encode() * 3) for i in range(start, start + count)]


def drain(spool: Spool, per_batch: int = 7) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    while (batch := spool.read_batch(per_batch)) is not None:
        out += batch.records
        spool.ack(batch)
    return out


def test_order_is_kept_across_appends_and_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=256)
    for start in range(0, 100, 10):
        spool.append(records(start, 10))
    assert len(list(tmp_path.glob("*.seg"))) > 3
    assert spool.pending_records == 100
    assert drain(spool) == records(0, 100)
    assert spool.is_empty()
    assert list(tmp_path.glob("*.seg")) == []  # delivered segments are deleted


def test_appends_between_reads_come_after_what_was_there(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=10_000)
    spool.append(records(0, 5))
    batch = spool.read_batch(3)
    assert batch is not None
    spool.ack(batch)
    spool.append(records(5, 5))
    assert drain(spool) == records(3, 7)


def test_a_reopened_spool_replays_what_was_not_acknowledged(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        spool.append(records(0, 30))
        acked = spool.read_batch(1_000)  # the first segment only
        assert acked is not None
        spool.ack(acked)
    reopened = Spool(tmp_path)
    assert reopened.pending_records == 30 - len(acked.records)
    assert drain(reopened) == records(len(acked.records), 30 - len(acked.records))


def test_a_partly_acknowledged_segment_is_replayed_whole_after_a_restart(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 10))
        batch = spool.read_batch(4)
        assert batch is not None
        spool.ack(batch)
    assert drain(Spool(tmp_path)) == records(0, 10)  # at least once: duplicates, never losses


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_torn_record_ends_its_segment_and_is_counted(tmp_path: Path, damage: str) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 10))
    [segment] = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    if damage == "truncate":
        del data[-5:]  # the last record is cut short
    else:
        data[-3] ^= 0xFF  # the last record fails its checksum
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path)
    assert drain(reopened) == records(0, 9)
    assert reopened.corrupt_records == 1
    assert reopened.is_empty()


@pytest.mark.parametrize(("policy", "syncs"), [("always", 3), ("never", 0), ("interval", 1)])
def test_fsync_follows_the_policy(tmp_path: Path, policy: str, syncs: int) -> None:
    calls: list[int] = []
    spool = Spool(tmp_path, fsync=policy, fsync_interval=3600, _fsync=calls.append)  # type: ignore[arg-type]
    for start in (0, 1, 2):
        spool.append(records(start, 1))
    assert len(calls) == syncs
    spool.close()
    assert len(calls) == syncs + (0 if policy == "always" else 1)  # close always makes it durable


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpoolError, match="file"):
        Spool(tmp_path / "file" / "spool")


def test_empty_appends_and_large_values(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1024)
    spool.append([])
    assert spool.is_empty()
    big = [(b"k", bytes(range(256)) * 4096)]  # 1 MiB, larger than a segment
    spool.append(big)
    assert drain(spool) == big
