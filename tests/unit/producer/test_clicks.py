"""Click events from visits: fields copied from a request are capped, event time is bounded, the dimensions
are derived when the event is built, and the IP goes nowhere."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.clicks import MAX_REFERER, MAX_USER_AGENT, future_error, visit, visit_event
from producer.destinations import Choice, choose_destination
from producer.geo import UNKNOWN, Geo
from producer.links import Link
from producer.spool import Spool
from producer.visitors import StaticSalt, VisitorKeys
from schemas.codec import LinkClickCodec

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LINK = Link("l1", "acct", "s", "https://example.com/")


def test_user_agent_and_referer_are_capped_and_the_event_stays_small() -> None:
    huge = "Mozilla/5.0 " + "A" * 1_200_000
    _, event = visit_event("s", LINK, UNKNOWN, NOW, user_agent=huge, referer="https://r/" + "b" * 10**6)
    assert event.user_agent == huge[:MAX_USER_AGENT]
    assert event.referer is not None and len(event.referer) == MAX_REFERER
    assert event.is_bot is False  # judged on what is kept
    assert len(LinkClickCodec().encode(event)) < 8_192


def test_short_fields_are_kept_whole() -> None:
    _, event = visit_event("s", LINK, UNKNOWN, NOW, user_agent="curl/8.0", referer=None)
    assert (event.user_agent, event.referer, event.is_bot) == ("curl/8.0", None, True)


def test_a_click_further_ahead_than_the_skew_is_refused_with_the_reason() -> None:
    skew = timedelta(seconds=300)
    assert future_error(NOW + skew, NOW, skew) is None
    assert future_error(NOW - timedelta(days=365), NOW, skew) is None
    reason = future_error(NOW + skew + timedelta(milliseconds=1), NOW, skew)
    assert reason is not None and "more than 300 s ahead" in reason
    assert future_error(datetime(9999, 12, 31, tzinfo=UTC), NOW, skew) is not None


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
ROUTED = Link("l2", "acct", "r", "https://example.com/", {"DE": "https://example.de/"})
KEYS = VisitorKeys(StaticSalt(b"k" * 32))


def test_a_visit_records_its_dimensions_when_its_event_is_built() -> None:
    destination, seen = visit(
        "r",
        ROUTED,
        Geo(country="DE"),
        NOW,
        user_agent=IPHONE,
        referer="https://WWW.News.Example/a",
        ip="198.51.100.7",
        visitors=KEYS,
    )
    assert (destination, seen.rule) == ("https://example.de/", "DE")
    event = seen.event()
    assert (event.device, event.browser, event.os) == ("mobile", "Mobile Safari", "iOS")
    assert (event.is_bot, event.bot_reason, event.referer_domain, event.rule) == (
        False,
        None,
        "news.example",
        "DE",
    )
    assert event.visitor == KEYS.key(NOW, "198.51.100.7", IPHONE) and event.visitor is not None


def test_the_default_destination_has_no_rule_and_a_bot_says_why() -> None:
    _, event = visit_event("r", ROUTED, Geo(country="FR"), NOW, user_agent="curl/8.0", referer=None)
    assert (event.destination, event.rule) == ("https://example.com/", None)
    assert (event.is_bot, event.bot_reason, event.device, event.referer_domain) == (
        True,
        "curl",
        "other",
        None,
    )
    assert event.visitor is None  # no IP, no key
    _, anonymous = visit_event("r", ROUTED, UNKNOWN, NOW, user_agent=None, referer=None, ip="198.51.100.7")
    assert (anonymous.is_bot, anonymous.bot_reason, anonymous.device) == (True, "no user agent", None)


@pytest.mark.parametrize(
    ("country", "choice"),
    [
        ("DE", Choice("https://example.de/", "DE")),
        ("FR", Choice("https://example.com/", None)),
        (None, Choice("https://example.com/", None)),
    ],
)
def test_the_destination_says_which_rule_chose_it(country: str | None, choice: Choice) -> None:
    assert choose_destination(ROUTED, country) == choice


@pytest.mark.parametrize("ip", ["198.51.100.77", "2001:db8::7f"])
def test_the_ip_is_in_no_event_spool_or_log_line(tmp_path: Path, ip: str) -> None:
    """The IP makes the visitor key and is gone: not in the record, its encoding, the spool or a repr."""
    _, seen = visit(
        "r", ROUTED, Geo(country="DE"), NOW, user_agent=IPHONE, referer=None, ip=ip, visitors=KEYS
    )
    event = seen.event()
    assert event.visitor is not None
    assert ip not in repr(seen) and ip not in repr(event)
    assert all(ip not in str(value) for value in event.to_record().values())
    encoded = LinkClickCodec().encode(event)
    with Spool(tmp_path / "spool") as spool:
        spool.append([(event.key, encoded)])
    stored = b"".join(path.read_bytes() for path in (tmp_path / "spool").iterdir())
    assert encoded in stored
    for form in (ip.encode(), ip.encode("utf-16-le"), ipaddress.ip_address(ip).packed):
        assert form not in encoded and form not in stored
