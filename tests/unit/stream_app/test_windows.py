from datetime import UTC, datetime

from stream_app.windows import HOUR_MS, MINUTE_MS, Granularity, Watermark

T0 = int(datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = Granularity("minute", MINUTE_MS, retention_ms=HOUR_MS)


def test_windows_are_aligned_to_the_epoch() -> None:
    assert MINUTE.start(T0 + 59_999) == T0
    assert MINUTE.start(T0 + 60_000) == T0 + MINUTE_MS
    assert MINUTE.end(T0) == T0 + MINUTE_MS


def test_a_window_closes_when_the_watermark_reaches_its_end() -> None:
    assert not MINUTE.is_closed(T0, T0 + MINUTE_MS - 1)
    assert MINUTE.is_closed(T0, T0 + MINUTE_MS)


def test_a_window_expires_after_its_retention() -> None:
    assert not MINUTE.is_expired(T0, T0 + MINUTE_MS + HOUR_MS - 1)
    assert MINUTE.is_expired(T0, T0 + MINUTE_MS + HOUR_MS)


def test_watermark_is_the_highest_producer_clock_minus_grace() -> None:
    mark = Watermark(grace_ms=5_000, idle_ms=60_000)
    mark.observe(T0 + 10_000, wall_ms=T0)
    mark.observe(T0 + 4_000, wall_ms=T0)  # out of order: does not move it back
    assert mark.tick(T0 + 1) == T0 + 5_000


def test_watermark_follows_the_wall_clock_only_when_idle() -> None:
    mark = Watermark(grace_ms=5_000, idle_ms=10_000)
    mark.observe(T0, wall_ms=T0)
    assert mark.tick(T0 + 9_999) == T0 - 5_000
    assert mark.tick(T0 + 10_000) == T0 + 10_000 - 5_000


def test_watermark_never_goes_back() -> None:
    mark = Watermark(grace_ms=0, idle_ms=1_000)
    mark.observe(T0, wall_ms=T0)
    assert mark.tick(T0 + 100_000) == T0 + 100_000  # idle: follows the clock
    mark.observe(T0 + 5, wall_ms=T0 + 100_000)  # an old record arrives
    assert mark.tick(T0 + 100_001) == T0 + 100_000


def test_idleness_counts_from_when_the_partition_is_first_watched() -> None:
    mark = Watermark(grace_ms=0, idle_ms=10_000, max_clock_ms=T0, value_ms=T0)  # restored after a restart
    assert mark.tick(T0 + 3_600_000) == T0  # just started watching: not idle yet
    assert mark.tick(T0 + 3_609_999) == T0
    assert mark.tick(T0 + 3_610_000) == T0 + 3_610_000


def test_a_clock_from_beyond_the_skew_never_moves_the_watermark() -> None:
    mark = Watermark(grace_ms=5_000, idle_ms=60_000, max_skew_ms=300_000)
    mark.observe(T0, wall_ms=T0)
    assert mark.admits(T0 + 300_000, wall_ms=T0)
    assert not mark.admits(T0 + 300_001, wall_ms=T0)
    year_9999 = 253_402_300_799_000
    mark.observe(year_9999, wall_ms=T0)
    mark.observe(T0 + 300_001, wall_ms=T0)
    assert (mark.max_clock_ms, mark.tick(T0 + 1)) == (T0, T0 - 5_000)
    mark.observe(T0 + 300_000, wall_ms=T0)  # at the bound: admitted
    assert mark.tick(T0 + 1) == T0 + 295_000


def test_a_watermark_poisoned_before_the_bound_is_healed() -> None:
    year_9999 = 253_402_300_799_000
    mark = Watermark(
        grace_ms=5_000, idle_ms=60_000, max_skew_ms=1_000, max_clock_ms=year_9999, value_ms=year_9999 - 5_000
    )
    assert mark.heal(T0)
    assert (mark.max_clock_ms, mark.value_ms) == (T0, T0 - 5_000)
    assert not mark.heal(T0)


def test_a_watermark_event_time_moved_in_old_state_is_set_back_to_the_wall_clock() -> None:
    # A tenant's backfill dated 295 s ahead had moved it, within the skew: set back once, at the next heal.
    mark = Watermark(
        grace_ms=5_000, idle_ms=60_000, max_skew_ms=300_000, value_ms=T0 + 290_000, event_time_driven=True
    )
    assert mark.heal(T0)
    assert (mark.max_clock_ms, mark.value_ms, mark.event_time_driven) == (None, T0 - 5_000, False)
    assert not mark.heal(T0)


def test_a_watermark_event_time_left_behind_the_wall_clock_is_kept() -> None:
    mark = Watermark(grace_ms=5_000, idle_ms=60_000, value_ms=T0 - 5_000, event_time_driven=True)
    assert not mark.heal(T0 + 1)
    assert (mark.value_ms, mark.event_time_driven) == (T0 - 5_000, False)


def test_a_producer_clock_ahead_within_the_skew_is_trusted_after_a_restart() -> None:
    # The new state's watermark follows producer hosts' clocks, which may run a little ahead of the worker's.
    mark = Watermark(grace_ms=5_000, idle_ms=60_000, max_clock_ms=T0 + 2_000, value_ms=T0 - 3_000)
    assert not mark.heal(T0)
    assert mark.value_ms == T0 - 3_000
