"""Click events from visits: fields copied from a request are capped; event time is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from producer.clicks import MAX_REFERER, MAX_USER_AGENT, future_error, visit_event
from producer.geo import UNKNOWN
from producer.links import Link
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
