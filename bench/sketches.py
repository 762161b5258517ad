"""What unique visitors cost: bytes per link per day of the worker's sketches, against exact sets.

    python -m bench.sketches [--rates 1000 100000 10000000] [--returning 0.7]

For each rate (clicks a day on one link) it plays a day of clicks, spread evenly over the minutes, from a
pool of visitors of which ``--returning`` come back (so distinct visitors are ``rate * (1 - returning)``,
and each click's key is drawn from that pool), and counts them as the worker does: every click into its
minute's, its hour's and the day's sketch (``stream_app.sketches.Uniques``, DataSketches HLL, lg_k 12,
4-bit registers). It prints the compact bytes those sketches take (what the state store keeps per window
and the aggregates topic carries; minute windows are kept two days, so a day of them is in the state at
any time), against the anchor: the exact alternative, every window's distinct visitor keys as a packed
array of 8-byte keys (the least an exact set can take; a Python set takes ~4x more). Also the error of the
day's estimate and the update cost per click of each (CPU seconds).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from stream_app.sketches import RELATIVE_STANDARD_ERROR, Uniques

MINUTES, HOURS = 1440, 24


@dataclass
class Cost:
    """Bytes of one granularity's windows for the day, sketched and exact."""

    sketch: int = 0
    exact: int = 0


def day(rate: int, returning: float, seed: int) -> dict[str, object]:
    """Play one link's day at ``rate`` clicks: bytes per granularity, the day's error, the timings."""
    rng = random.Random(seed)
    pool = max(1, round(rate * (1 - returning)))
    keys = [rng.getrandbits(63) for _ in range(pool)]
    costs = {"minute": Cost(), "hour": Cost(), "day": Cost()}
    day_sketch, day_exact = Uniques(), set()
    sketch_seconds = exact_seconds = 0.0
    per_minute = [rate // MINUTES + (1 if m < rate % MINUTES else 0) for m in range(MINUTES)]
    for hour in range(HOURS):
        hour_sketch, hour_exact = Uniques(), set()
        for minute in range(hour * 60, hour * 60 + 60):
            clicks = [keys[rng.randrange(pool)] for _ in range(per_minute[minute])]
            started = time.process_time()
            minute_sketch = Uniques()
            for key in clicks:  # the worker adds each click to its three windows
                minute_sketch.add(key)
                hour_sketch.add(key)
                day_sketch.add(key)
            sketch_seconds += time.process_time() - started
            started = time.process_time()
            minute_exact = set(clicks)
            hour_exact |= minute_exact
            day_exact |= minute_exact
            exact_seconds += time.process_time() - started
            if clicks:
                costs["minute"].sketch += len(minute_sketch.to_bytes())
                costs["minute"].exact += 8 * len(minute_exact)
        if hour_exact:
            costs["hour"].sketch += len(hour_sketch.to_bytes())
            costs["hour"].exact += 8 * len(hour_exact)
    costs["day"].sketch, costs["day"].exact = len(day_sketch.to_bytes()), 8 * len(day_exact)
    error = (day_sketch.estimate() - len(day_exact)) / len(day_exact)
    return {
        "costs": costs,
        "distinct": len(day_exact),
        "error": error,
        "sketch_us": sketch_seconds / rate * 1e6,
        "exact_us": exact_seconds / rate * 1e6,
    }


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[1_000, 100_000, 10_000_000])
    parser.add_argument("--returning", type=float, default=0.7, help="share of clicks by returning visitors")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"HLL lg_k 12, 4-bit registers; relative standard error {RELATIVE_STANDARD_ERROR:.2%}", flush=True)
    header = (
        "| clicks/day | distinct | minutes: sketch / exact | hours: sketch / exact | day: sketch / exact "
        "| per link per day: sketch / exact (x) | day error | update µs/click: sketch / exact |"
    )
    print(header)
    print("|" + " ---: |" * 8)
    for rate in args.rates:
        found = day(rate, args.returning, args.seed)
        costs: dict[str, Cost] = found["costs"]  # type: ignore[assignment]
        sketch = sum(cost.sketch for cost in costs.values())
        exact = sum(cost.exact for cost in costs.values())
        cells = " | ".join(
            f"{_size(costs[g].sketch)} / {_size(costs[g].exact)}" for g in ("minute", "hour", "day")
        )
        timing = f"{found['sketch_us']:.2f} / {found['exact_us']:.2f}"
        print(
            f"| {rate:,} | {found['distinct']:,} | {cells} | {_size(sketch)} / {_size(exact)} "
            f"({sketch / exact:.2f}) | {found['error']:+.2%} | {timing} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
