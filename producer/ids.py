"""Cheap, unique, time-ordered event ids: UUIDv7 strings (RFC 9562) from a clock and a counter.

``uuid4()`` costs an ``os.urandom`` call and a UUID object per click. Here each process draws 30 random bits
once (again after a fork), and an id is the millisecond clock (48 bits), that prefix and a 44-bit counter:
unique across processes (by the prefix) and strictly increasing within one (the clock is not let go back,
the counter only goes up).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

_COUNTER_BITS = 44
_COUNTER_MASK = (1 << _COUNTER_BITS) - 1
_VARIANT = 0b10 << 62


class EventIds:
    """Makes UUIDv7 event ids; ``next()`` is the hot call. Thread-safe.

    Args:
        clock_ns: the wall clock in nanoseconds (``time.time_ns``); tests pass a fake.
    """

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        prefix = int.from_bytes(os.urandom(4)) >> 2  # 30 bits: 12 in rand_a, 18 at the top of rand_b
        self._rand_a = prefix >> 18
        self._rand_b = _VARIANT | ((prefix & 0x3FFFF) << _COUNTER_BITS)
        self._counter = int.from_bytes(os.urandom(2))  # a random start: ids do not begin at 0 each boot
        self._last_ms = -1
        self._head = ""

    def next(self) -> str:
        """Return a fresh id, later than every id this process made before."""
        with self._lock:
            ms = self._clock_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms = ms
                self._head = f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7{self._rand_a:03x}-"
            self._counter = counter = (self._counter + 1) & _COUNTER_MASK
            head = self._head
        tail = f"{self._rand_b | counter:016x}"
        return f"{head}{tail[:4]}-{tail[4:]}"
