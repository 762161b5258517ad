"""Worst-case CPU of bot detection per unique User-Agent, against crawlerdetect on the whole header.

    python -m bench.bots [--rounds 5]

A visitor chooses the User-Agent, and every unique one misses ``producer.agents``' cache, so what a hostile
header costs is what one request costs the producer. crawlerdetect's patterns cost superlinear time on some
inputs (a run of one letter, of digits, of "bo"). ``producer.bots`` scans only the first ``SCAN_CHARS``
characters; the anchor is crawlerdetect itself on the header as the producer receives it (cut to 1,024
characters). Each family of hostile headers is measured at several lengths, alternating the two, in CPU
time (``time.process_time``), a fresh string per call so no cache helps; medians of ``--rounds``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

from crawlerdetect import CrawlerDetect

from producer.bots import SCAN_CHARS, bot_reason

FAMILIES = {
    "browser": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 ",
    "letters": "a",
    "digits": "1",
    "dots": ".",
    "bo": "bo",
    "semicolons": "; ",
    "words": "a1 ",
}
LENGTHS = (128, 256, 512, 1024)
_serial = itertools.count()


def hostile(unit: str, length: int) -> str:
    """A unique header of ``length`` characters made of ``unit``, ending in a serial number."""
    tail = f"{next(_serial):08d}"
    return (unit * (length // len(unit) + 1))[: length - len(tail)] + tail


def anchor(user_agent: str) -> object:
    """crawlerdetect on the whole header."""
    return CrawlerDetect().is_crawler(user_agent)


def cpu_ms(detect: Callable[[str], object], unit: str, length: int) -> float:
    """CPU milliseconds of one detection of a fresh header."""
    user_agent = hostile(unit, length)
    began = time.process_time()
    detect(user_agent)
    return (time.process_time() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds per family and length")
    args = parser.parse_args()
    print(f"bot detection, CPU ms per unique User-Agent (median of {args.rounds}); prefix {SCAN_CHARS} chars")
    print(f"{'family':<11} {'length':>6} {'clickpipe':>10} {'anchor':>9} {'ratio':>6}")
    worst = {"clickpipe": 0.0, "anchor": 0.0}
    for (family, unit), length in itertools.product(FAMILIES.items(), LENGTHS):
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(cpu_ms(bot_reason, unit, length))
            theirs.append(cpu_ms(anchor, unit, length))
        mine, base = statistics.median(ours), statistics.median(theirs)
        worst = {"clickpipe": max(worst["clickpipe"], mine), "anchor": max(worst["anchor"], base)}
        print(f"{family:<11} {length:>6} {mine:>10.2f} {base:>9.2f} {mine / base if base else 0:>6.2f}")
    print(
        f"worst case: clickpipe {worst['clickpipe']:.2f} ms, anchor {worst['anchor']:.2f} ms per unique agent"
    )


if __name__ == "__main__":
    main()
