"""Realistic visitor traffic for the load generator: pure functions, seeded, no I/O."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# (country, share, city, latitude, longitude): a plausible mix of a global SaaS's visitors.
COUNTRY_MIX: tuple[tuple[str, float, str, float, float], ...] = (
    ("US", 0.28, "New York", 40.71, -74.01),
    ("DE", 0.10, "Berlin", 52.52, 13.40),
    ("GB", 0.08, "London", 51.51, -0.13),
    ("IN", 0.08, "Mumbai", 19.08, 72.88),
    ("BR", 0.06, "Sao Paulo", -23.55, -46.63),
    ("FR", 0.06, "Paris", 48.86, 2.35),
    ("JP", 0.05, "Tokyo", 35.68, 139.69),
    ("CA", 0.04, "Toronto", 43.65, -79.38),
    ("ES", 0.03, "Madrid", 40.42, -3.70),
    ("AU", 0.03, "Sydney", -33.87, 151.21),
    ("NL", 0.03, "Amsterdam", 52.37, 4.90),
    ("MX", 0.03, "Mexico City", 19.43, -99.13),
    ("NG", 0.02, "Lagos", 6.52, 3.38),
    ("KR", 0.02, "Seoul", 37.57, 126.98),
    ("PL", 0.02, "Warsaw", 52.23, 21.01),
    ("ZA", 0.02, "Cape Town", -33.92, 18.42),
)
UNKNOWN_COUNTRY_SHARE = 0.05

# (user agent, share): desktop, mobile and tablet browsers, roughly in the web's proportions.
BROWSERS: tuple[tuple[str, float], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36",
        0.22,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36 Edg/120.0.0.0",
        0.06,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", 0.04),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Safari/605.1.15",
        0.06,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        0.05,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", 0.02),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36",
        0.01,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1",
        0.22,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.33.116]",
        0.03,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Mobile Safari/537.36",
        0.15,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Mobile Safari/537.36",
        0.06,
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0", 0.01),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1",
        0.04,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36",
        0.02,
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.1.1 "
        "like Chrome/120.0.0.0 Safari/537.36",
        0.01,
    ),
)
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "WhatsApp/2.23.20.0",
    "curl/8.4.0",
)
# (referer, share); None: a direct visit, no Referer.
REFERERS: tuple[tuple[str | None, float], ...] = (
    (None, 0.35),
    ("https://www.google.com/", 0.20),
    ("https://t.co/", 0.08),
    ("https://l.facebook.com/", 0.07),
    ("https://news.example.org/", 0.06),
    ("https://news.ycombinator.com/", 0.05),
    ("https://www.reddit.com/r/programming/", 0.05),
    ("https://www.linkedin.com/feed/", 0.05),
    ("https://duckduckgo.com/", 0.03),
    ("android-app://com.slack/", 0.03),
    ("https://www.bing.com/", 0.03),
)
PEOPLE = 5_000
"""Distinct visitors: each keeps an address (198.18.0.0/15, for tests) and a browser, and comes back."""


@dataclass(frozen=True, slots=True)
class Visit:
    """One request the load generator sends."""

    slug: str
    headers: dict[str, str]
    country: str | None
    bot: bool


def zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    """Popularity weights of ``count`` links, the first the most popular (Zipf-like)."""
    return [1 / (rank + 1) ** exponent for rank in range(count)]


def visits(slugs: Sequence[str], *, bot_share: float, seed: int) -> Iterator[Visit]:
    """Endless visits: Zipf-like link popularity, the country mix with geo headers, returning visitors with
    their browsers, addresses (``CF-Connecting-IP``) and referers, and a share of bots."""
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    weights = zipf_weights(len(slugs))
    countries = [entry[0] for entry in COUNTRY_MIX]
    shares = [entry[1] for entry in COUNTRY_MIX]
    geo = {entry[0]: entry for entry in COUNTRY_MIX}
    agents = rng.choices([agent for agent, _ in BROWSERS], [share for _, share in BROWSERS], k=PEOPLE)
    people = [(f"198.18.{person >> 8}.{person & 255}", agent) for person, agent in enumerate(agents)]
    bots = [(f"203.0.113.{10 + number}", agent) for number, agent in enumerate(BOTS)]
    referers = [referer for referer, _ in REFERERS]
    referer_shares = [share for _, share in REFERERS]
    while True:
        slug = rng.choices(slugs, weights)[0]
        bot = rng.random() < bot_share
        address, agent = rng.choice(bots if bot else people)
        headers = {"User-Agent": agent, "CF-Connecting-IP": address}
        referer = rng.choices(referers, referer_shares)[0]
        if referer is not None:
            headers["Referer"] = referer
        country: str | None = None
        if rng.random() >= UNKNOWN_COUNTRY_SHARE:
            country = rng.choices(countries, shares)[0]
            _, _, city, lat, lon = geo[country]
            headers |= {
                "CF-IPCountry": country,
                "CF-IPCity": city,
                "CF-IPLatitude": f"{lat + rng.uniform(-0.2, 0.2):.4f}",
                "CF-IPLongitude": f"{lon + rng.uniform(-0.2, 0.2):.4f}",
            }
        yield Visit(slug, headers, country, bot)


def shuffled_times(now: datetime, count: int, spread: timedelta, seed: int) -> list[datetime]:
    """``count`` event times in the last ``spread`` before ``now``, out of order (for backfills)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    return [now - spread * rng.random() for _ in range(count)]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of already sorted values; 0 for none."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]
