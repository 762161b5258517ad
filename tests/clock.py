"""A clock that moves only when a test moves it: for the code that takes a ``clock`` callable (caches,
TTLs, fsync intervals), so time-dependent behaviour is tested without sleeping."""

from __future__ import annotations


class ManualClock:
    """Returns ``now`` (seconds) until a test sets it or calls ``advance``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.now += seconds
