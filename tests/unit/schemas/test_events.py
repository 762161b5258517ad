"""LinkClick and EventType: record conversion, defaults and the message key."""

import uuid
from datetime import UTC, datetime

from schemas import EventType, LinkClick, link_click_schema, new_event_id

NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def click(**overrides: object) -> LinkClick:
    """A click with only the required fields set, plus ``overrides``."""
    fields: dict[str, object] = {
        "link_id": "lnk-1",
        "account_id": "acc-1",
        "destination": "https://example.com/x",
        "timestamp": NEW_YEAR,
    }
    return LinkClick(**{**fields, **overrides})  # type: ignore[arg-type]


def test_key_is_link_id_bytes():
    assert click(link_id="lnk-42").key == b"lnk-42"


def test_key_is_utf8_encoded():
    assert click(link_id="lien-é").key == "lien-é".encode()


def test_clicks_of_one_link_share_a_key_whatever_else_differs():
    first = click(account_id="acc-1", country="FR", is_bot=False)
    second = click(account_id="acc-2", country="US", is_bot=True)

    assert first.key == second.key


def test_defaults_describe_a_human_link_click():
    event = click()

    assert event.type is EventType.LINK_CLICK
    assert event.is_bot is False
    assert (event.country, event.latitude, event.longitude) == (None, None, None)
    assert event.slug is None
    assert (event.user_agent, event.referer, event.city, event.region, event.continent) == (None,) * 5


def test_each_event_gets_its_own_uuid():
    first, second = click(), click()

    assert first.event_id != second.event_id
    assert uuid.UUID(first.event_id).version == 4


def test_new_event_id_is_a_fresh_uuid4():
    ids = {new_event_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(uuid.UUID(event_id).version == 4 for event_id in ids)


def test_to_record_carries_every_field_with_the_type_as_its_symbol():
    event = click(type=EventType.LINK_NOT_FOUND, event_id="evt-1", slug="promo", country="FR", is_bot=True)

    assert event.to_record() == {
        "link_id": "lnk-1",
        "slug": "promo",
        "account_id": "acc-1",
        "destination": "https://example.com/x",
        "timestamp": NEW_YEAR,
        "country": "FR",
        "latitude": None,
        "longitude": None,
        "type": "LINK_NOT_FOUND",
        "event_id": "evt-1",
        "user_agent": None,
        "referer": None,
        "city": None,
        "region": None,
        "continent": None,
        "is_bot": True,
        "device": None,
        "browser": None,
        "os": None,
        "referer_domain": None,
        "rule": None,
        "bot_reason": None,
        "visitor": None,
    }
    assert type(event.to_record()["type"]) is str


def test_from_record_inverts_to_record():
    event = click(event_id="evt-1", slug="promo", city="Paris", latitude=48.8566, is_bot=True)

    assert LinkClick.from_record(event.to_record()) == event


def test_from_record_reads_a_naive_timestamp_as_utc():
    record = {**click(event_id="evt-1").to_record(), "timestamp": datetime(2026, 1, 1)}  # noqa: DTZ001

    event = LinkClick.from_record(record)

    assert event.timestamp == NEW_YEAR
    assert event.timestamp.tzinfo is UTC


def test_event_type_symbols_match_the_avro_enum():
    symbols = [member.value for member in EventType]
    assert symbols == ["UNKNOWN", "LINK_CLICK", "LINK_NOT_FOUND", "LINK_DISABLED", "LINK_EXPIRED"]
    assert symbols == link_click_schema()["fields"][0]["type"]["symbols"]
