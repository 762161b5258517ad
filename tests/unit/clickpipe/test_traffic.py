from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from clickpipe.loadgen import LoadReport
from clickpipe.slots import claim_slot
from clickpipe.traffic import COUNTRY_MIX, percentile, shuffled_times, visits, zipf_weights
from producer.agents import describe
from schemas.referers import referer_domain

SLUGS = [f"lg-{i}" for i in range(20)]


def test_zipf_popularity_falls_with_rank() -> None:
    weights = zipf_weights(5)
    assert weights == sorted(weights, reverse=True)
    assert weights[0] / weights[1] > 2  # 2 ** 1.1


def test_visits_are_reproducible_and_realistic() -> None:
    first = list(islice(visits(SLUGS, bot_share=0.1, seed=5), 5_000))
    again = list(islice(visits(SLUGS, bot_share=0.1, seed=5), 5_000))
    assert first == again
    by_slug = Counter(visit.slug for visit in first)
    assert by_slug["lg-0"] > by_slug["lg-5"] > by_slug["lg-19"]
    bots = [visit for visit in first if visit.bot]
    assert 0.08 < len(bots) / len(first) < 0.12
    assert all(describe(visit.headers["User-Agent"]).is_bot == visit.bot for visit in first)  # as the service
    known = {entry[0] for entry in COUNTRY_MIX}
    with_country = [visit for visit in first if visit.country]
    assert all(visit.headers["CF-IPCountry"] == visit.country in known for visit in with_country)
    assert all(
        visit.headers["CF-IPCountry"].isascii() and visit.headers["CF-IPCity"].isascii()
        for visit in with_country
    )
    assert 0.9 < len(with_country) / len(first) < 0.99


def test_visitors_come_back_with_their_browser_from_many_devices_and_referers() -> None:
    people = [visit for visit in islice(visits(SLUGS, bot_share=0.1, seed=5), 5_000) if not visit.bot]
    agents: dict[str, set[str]] = {}
    for visit in people:
        agents.setdefault(visit.headers["CF-Connecting-IP"], set()).add(visit.headers["User-Agent"])
    assert all(len(seen) == 1 for seen in agents.values())  # a returning visitor keeps their browser
    assert 1_000 < len(agents) < len(people)  # and some do return
    devices = Counter(describe(visit.headers["User-Agent"]).device for visit in people)
    assert devices.keys() == {"desktop", "mobile", "tablet"}
    assert devices["mobile"] > devices["tablet"] > 0
    assert len({describe(visit.headers["User-Agent"]).browser for visit in people}) >= 6
    domains = Counter(referer_domain(visit.headers.get("Referer")) for visit in people)
    assert 0.3 < domains[None] / len(people) < 0.4 and len(domains) >= 8


def test_backfill_times_are_past_and_out_of_order() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    times = shuffled_times(now, 100, timedelta(minutes=30), seed=1)
    assert all(now - timedelta(minutes=30) <= moment <= now for moment in times)
    assert times != sorted(times)


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert percentile([], 0.5) == 0.0


def test_the_summary_says_what_happened() -> None:
    report = LoadReport(sent=10, latencies=[0.01] * 10, redirected_people=8, redirected_bots=2, elapsed=2.0)
    report.statuses[302] = 10
    text = report.summary()
    assert "requests   10 in 2.0s (5 req/s)" in text
    assert "redirected 10 (people 8, bots 2)" in text
    assert "p99 10.0 ms" in text


def test_each_replica_claims_its_own_slot(tmp_path: Path) -> None:
    first, lock_a = claim_slot(tmp_path)
    second, lock_b = claim_slot(tmp_path)
    assert (first.name, second.name) == ("slot-0", "slot-1")
    lock_a.close()  # the first replica exits: its slot (and state) is free for the next one
    third, lock_c = claim_slot(tmp_path)
    assert third == first
    lock_b.close()
    lock_c.close()
