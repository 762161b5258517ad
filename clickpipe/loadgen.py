"""``clickpipe loadgen``: realistic traffic against the redirect service, over HTTP."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx

from clickpipe.errors import LoadgenError
from clickpipe.traffic import Visit, percentile, shuffled_times, visits


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What traffic to send."""

    url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    links: int = 50
    requests: int | None = 10_000
    duration: float | None = None
    rate: float = 0.0  # requests per second; 0: as fast as the concurrency allows
    concurrency: int = 32
    bot_share: float = 0.1
    backfill: int = 0  # clicks with out-of-order past timestamps, through the batch endpoint
    seed: int = 1


@dataclass
class LoadReport:
    """What happened."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    redirected_people: int = 0
    redirected_bots: int = 0
    backfilled: int = 0
    elapsed: float = 0.0

    @property
    def redirected(self) -> int:
        """Requests answered 302 (each one a recorded click)."""
        return self.statuses[302]

    def summary(self) -> str:
        """A closing summary for people."""
        ordered = sorted(self.latencies)
        rate = self.sent / self.elapsed if self.elapsed else 0.0
        lines = [
            f"requests   {self.sent:,} in {self.elapsed:.1f}s ({rate:,.0f} req/s)",
            f"redirected {self.redirected:,} "
            f"(people {self.redirected_people:,}, bots {self.redirected_bots:,})",
            "statuses   " + ", ".join(f"{code}: {n:,}" for code, n in sorted(self.statuses.items())),
            "latency    "
            + "  ".join(
                f"{name} {percentile(ordered, q) * 1000:.1f} ms"
                for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
            ),
            f"errors     {sum(self.errors.values()):,}"
            + (
                "" if not self.errors else " (" + ", ".join(f"{k}: {v}" for k, v in self.errors.items()) + ")"
            ),
        ]
        if self.backfilled:
            lines.append(f"backfilled {self.backfilled:,} out-of-order clicks")
        return "\n".join(lines)


async def prepare_links(client: httpx.AsyncClient, options: LoadOptions) -> dict[str, str]:
    """Make sure links ``lg-0``.. exist (created with the API key); return slug -> link id."""
    if options.api_key is None:
        return {"demo": "demo"}
    auth = {"Authorization": f"Bearer {options.api_key}"}
    wanted = [f"lg-{i}" for i in range(options.links)]
    for slug in wanted:
        body = {
            "slug": slug,
            "default_destination": f"https://example.com/{slug}",
            "country_destinations": {"DE": f"https://example.de/{slug}", "JP": f"https://example.jp/{slug}"},
        }
        response = await client.post("/api/links", json=body, headers=auth)
        if response.status_code not in (201, 409):
            raise LoadgenError(
                f"cannot create link {slug}: {response.status_code} {response.text}",
                options.url,
                response.status_code,
            )
    ids: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/links", params=params, headers=auth)).json()
        ids |= {link["slug"]: link["link_id"] for link in page["items"] if link["slug"] in wanted}
        cursor = page["next_cursor"]
        if cursor is None:
            return {slug: ids[slug] for slug in wanted if slug in ids}


async def run_load(options: LoadOptions, progress: TextIO | None = sys.stderr) -> LoadReport:
    """Send the traffic; return the report."""
    report = LoadReport()
    limits = httpx.Limits(max_connections=options.concurrency, max_keepalive_connections=options.concurrency)
    async with httpx.AsyncClient(base_url=options.url, timeout=10, limits=limits) as client:
        try:
            links = await prepare_links(client, options)
        except httpx.TransportError as exc:
            raise LoadgenError(
                f"the redirect service at {options.url} does not answer: {exc!r}", options.url
            ) from exc
        stream = visits(list(links), bot_share=options.bot_share, seed=options.seed)
        started = time.monotonic()
        deadline = started + options.duration if options.duration else None
        total = options.requests
        issued = 0
        lock = asyncio.Lock()

        async def worker() -> None:
            nonlocal issued
            while True:
                async with lock:
                    if (total is not None and issued >= total) or (deadline and time.monotonic() >= deadline):
                        return
                    index = issued
                    issued += 1
                    visit = next(stream)
                if options.rate:
                    delay = started + index / options.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                began = time.monotonic()
                try:
                    response = await client.get(f"/{visit.slug}", headers=visit.headers)
                except httpx.HTTPError as exc:
                    report.errors[type(exc).__name__] += 1
                    report.sent += 1
                    continue
                report.latencies.append(time.monotonic() - began)
                report.sent += 1
                report.statuses[response.status_code] += 1
                if response.status_code == 302:
                    if visit.bot:
                        report.redirected_bots += 1
                    else:
                        report.redirected_people += 1

        ticker = asyncio.create_task(_progress(report, total, started, progress)) if progress else None
        await asyncio.gather(*(worker() for _ in range(options.concurrency)))
        if options.backfill and options.api_key:
            report.backfilled = await _backfill(client, options, list(links.values()), stream)
        report.elapsed = time.monotonic() - started
        if ticker is not None:
            ticker.cancel()
            _draw(report, total, started, progress, final=True)
    return report


async def _backfill(
    client: httpx.AsyncClient, options: LoadOptions, link_ids: list[str], stream: Iterator[Visit]
) -> int:
    times = shuffled_times(datetime.now(UTC), options.backfill, timedelta(minutes=30), options.seed)
    accepted = 0
    for start in range(0, len(times), 1_000):
        clicks: list[dict[str, Any]] = [
            _backfilled(link_ids[(start + i) % len(link_ids)], moment, next(stream))
            for i, moment in enumerate(times[start : start + 1_000])
        ]
        response = await client.post(
            "/api/clicks/batch",
            json={"clicks": clicks},
            headers={"Authorization": f"Bearer {options.api_key}"},
        )
        accepted += int(response.json().get("accepted", 0)) if response.status_code == 200 else 0
    return accepted


def _backfilled(link_id: str, at: datetime, visit: Visit) -> dict[str, Any]:
    """A batch-ingest record of ``visit`` at ``at``: the same user agent, referer, address and country."""
    headers = visit.headers
    return {
        "link_id": link_id,
        "timestamp": at.isoformat(),
        "country": visit.country,
        "user_agent": headers["User-Agent"],
        "referer": headers.get("Referer"),
        "ip": headers["CF-Connecting-IP"],
    }


async def _progress(report: LoadReport, total: int | None, started: float, out: TextIO) -> None:
    while True:
        _draw(report, total, started, out)
        await asyncio.sleep(0.5)


def _draw(
    report: LoadReport, total: int | None, started: float, out: TextIO | None, final: bool = False
) -> None:
    if out is None:
        return
    elapsed = max(time.monotonic() - started, 1e-9)
    if total:
        done = report.sent / total
        bar = "#" * int(done * 30)
        line = f"[{bar:<30}] {report.sent:,}/{total:,}"
    else:
        line = f"{report.sent:,} requests"
    line += f"  {report.sent / elapsed:,.0f} req/s  errors {sum(report.errors.values())}"
    out.write(("\r" + line + ("\n" if final else "")) if out.isatty() or final else "")
    out.flush()
