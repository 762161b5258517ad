"""Click messages to ``Click`` values: every dimension in its place."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from stream_app.aggregation import Click, dims
from stream_app.decoding import ClickDecoder

AT = datetime(2026, 11, 28, 10, 0, 1, tzinfo=UTC)


def test_every_dimension_lands_in_its_place() -> None:
    event = LinkClick(
        link_id="l",
        account_id="acct",
        destination="https://example.de/",
        timestamp=AT,
        country="DE",
        continent="EU",
        region="BE",
        city="Berlin",
        device="mobile",
        browser="Chrome Mobile",
        os="Android",
        referer_domain="news.ycombinator.com",
        rule="DE",
        is_bot=True,
        bot_reason="Googlebot",
        slug="s",
        visitor=-42,
    )
    click = ClickDecoder().decode(7, LinkClickCodec().encode(event))
    assert click == Click(
        7,
        int(AT.timestamp() * 1000),
        "l",
        "acct",
        dims(
            country="DE",
            continent="EU",
            region="BE",
            city="Berlin",
            device="mobile",
            browser="Chrome Mobile",
            os="Android",
            referer="news.ycombinator.com",
            rule="DE",
            url="https://example.de/",
        ),
        True,
        "s",
        -42,
    )


def test_missing_values_are_named() -> None:
    event = LinkClick(link_id="l", account_id="acct", destination="https://x/", timestamp=AT)
    click = ClickDecoder().decode(0, LinkClickCodec().encode(event))
    assert click is not None
    assert click.dims == dims(url="https://x/")
    assert click.visitor is None
