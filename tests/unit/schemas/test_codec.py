"""The click topic's wire format: golden bytes, round trips, bad input, and schema evolution."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest
from fastavro import parse_schema

from schemas import (
    AvroCodec,
    EventType,
    InvalidRecordError,
    LinkClick,
    LinkClickCodec,
    MalformedMessageError,
    UnknownSchemaError,
    link_click_schema,
    load_schema,
    schema_fingerprint,
)
from schemas.codec import HEADER_SIZE, MAGIC

NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)

V3_FINGERPRINT = bytes.fromhex("222d06216e240e03")
V1_FINGERPRINT = bytes.fromhex("af05046dcdb10090")

PINNED_CLICK = LinkClick(
    type=EventType.LINK_CLICK,
    event_id="00000000-0000-4000-8000-000000000001",
    link_id="lnk-1",
    slug="promo",
    account_id="acc-1",
    country="FR",
    destination="https://example.com/x",
    latitude=48.8566,
    longitude=2.3522,
    timestamp=NEW_YEAR,
    user_agent="Mozilla/5.0",
    referer="https://ref.example/",
    city="Paris",
    region="IDF",
    continent="EU",
    is_bot=True,
    device="mobile",
    browser="Mobile Safari",
    os="iOS",
    referer_domain="ref.example",
    rule="FR",
    bot_reason="Googlebot",
    visitor=-2,
)

# Written once by LinkClickCodec and checked by hand against the Avro spec; a change here breaks every reader.
GOLDEN = bytes.fromhex(
    "c3 01"  # single-object magic
    " 22 2d 06 21 6e 24 0e 03"  # CRC-64-AVRO fingerprint of link_click.v3, little-endian
    " 02"  # type: enum index 1 = LINK_CLICK
    " 48 30303030303030302d303030302d343030302d383030302d303030303030303030303031"  # event_id (36 chars)
    " 0a 6c6e6b2d31"  # link_id "lnk-1"
    " 02 0a 70726f6d6f"  # slug: union branch 1 (string), "promo"
    " 0a 6163632d31"  # account_id "acc-1"
    " 02 04 4652"  # country: union branch 1 (string), "FR"
    " 2a 68747470733a2f2f6578616d706c652e636f6d2f78"  # destination "https://example.com/x"
    " 02 76e09c11a56d4840"  # latitude 48.8566 (double, little-endian)
    " 02 a835cd3b4ed10240"  # longitude 2.3522
    " 80a0d5edee66"  # timestamp 1767225600000 ms (zigzag varint)
    " 02 16 4d6f7a696c6c612f352e30"  # user_agent "Mozilla/5.0"
    " 02 28 68747470733a2f2f7265662e6578616d706c652f"  # referer "https://ref.example/"
    " 02 0a 5061726973"  # city "Paris"
    " 02 06 494446"  # region "IDF"
    " 02 04 4555"  # continent "EU"
    " 01"  # is_bot true
    " 02 0c 6d6f62696c65"  # device "mobile"
    " 02 1a 4d6f62696c6520536166617269"  # browser "Mobile Safari"
    " 02 06 694f53"  # os "iOS"
    " 02 16 7265662e6578616d706c65"  # referer_domain "ref.example"
    " 02 04 4652"  # rule "FR"
    " 02 12 476f6f676c65626f74"  # bot_reason "Googlebot"
    " 02 03"  # visitor -2 (long, zigzag)
)


def click(**overrides: object) -> LinkClick:
    """A click with only the required fields set, plus ``overrides``."""
    fields: dict[str, object] = {
        "link_id": "lnk-1",
        "account_id": "acc-1",
        "destination": "https://example.com/x",
        "timestamp": NEW_YEAR,
        "event_id": "evt-1",
    }
    return LinkClick(**{**fields, **overrides})  # type: ignore[arg-type]


def future_schema() -> dict[str, object]:
    """link_click.v3 as a later producer might ship it: the EventType enum gains LINK_ARCHIVED."""
    text = resources.files("schemas").joinpath("avro", "link_click.v3.avsc").read_text(encoding="utf-8")
    schema = json.loads(text)
    schema["fields"][0]["type"]["symbols"].append("LINK_ARCHIVED")
    return parse_schema(schema, _write_hint=False)  # type: ignore[no-any-return]


# --- golden bytes -------------------------------------------------------------------------------------------


def test_pinned_click_encodes_to_golden_bytes():
    assert LinkClickCodec().encode(PINNED_CLICK) == GOLDEN


def test_golden_bytes_decode_to_pinned_click():
    assert LinkClickCodec().decode(GOLDEN) == PINNED_CLICK


def test_header_is_magic_then_v3_fingerprint():
    message = LinkClickCodec().encode(click())

    assert MAGIC == b"\xc3\x01"
    assert HEADER_SIZE == 10
    assert message[:HEADER_SIZE] == b"\xc3\x01" + V3_FINGERPRINT


def test_schema_fingerprints_are_pinned():
    # A change to a shipped .avsc changes its fingerprint, and readers stop recognising old messages.
    assert schema_fingerprint(link_click_schema()) == V3_FINGERPRINT
    assert schema_fingerprint(load_schema("link_click.v2.avsc")) == bytes.fromhex("27718c839100ef5b")
    assert schema_fingerprint(load_schema("link_click.v1.avsc")) == V1_FINGERPRINT
    assert AvroCodec(link_click_schema()).writer_fingerprint == V3_FINGERPRINT


def test_schema_fingerprint_matches_avro_spec_test_vector():
    # The Avro spec publishes CRC-64-AVRO("null") = 7195948357588979594.
    expected = (7195948357588979594).to_bytes(8, "little")

    assert schema_fingerprint(parse_schema("null")) == expected


# --- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(click(), id="optional-fields-none"),
        pytest.param(PINNED_CLICK, id="every-field-set"),
        pytest.param(
            click(
                link_id="lien-é",
                destination="https://exemple.fr/café?q=🚀",
                city="Zürich",
                region="東京都",
                user_agent="Браузер/1.0",
            ),
            id="unicode",
        ),
        pytest.param(click(is_bot=True, user_agent="Googlebot/2.1"), id="bot"),
        pytest.param(click(type=EventType.LINK_NOT_FOUND), id="link-not-found"),
        pytest.param(click(latitude=-90.0, longitude=180.0), id="coordinate-limits"),
        pytest.param(click(country=None, latitude=0.0, longitude=0.0), id="zero-coordinates"),
        pytest.param(click(timestamp=datetime(2026, 1, 1, 12, 30, 15, 123000, tzinfo=UTC)), id="millis"),
    ],
)
def test_event_round_trips(event):
    codec = LinkClickCodec()

    assert codec.decode(codec.encode(event)) == event


def test_aware_non_utc_timestamp_decodes_to_same_instant_in_utc():
    paris = timezone(timedelta(hours=1))
    codec = LinkClickCodec()

    decoded = codec.decode(codec.encode(click(timestamp=datetime(2026, 1, 1, 1, 0, tzinfo=paris))))

    assert decoded.timestamp == NEW_YEAR
    assert decoded.timestamp.utcoffset() == timedelta(0)


def test_sub_millisecond_precision_is_dropped():
    codec = LinkClickCodec()

    decoded = codec.decode(codec.encode(click(timestamp=NEW_YEAR.replace(microsecond=123999))))

    assert decoded.timestamp == NEW_YEAR.replace(microsecond=123000)


# --- bad messages -------------------------------------------------------------------------------------------


def test_unknown_fingerprint_raises_unknown_schema_with_the_fingerprint():
    message = MAGIC + bytes.fromhex("0123456789abcdef") + GOLDEN[HEADER_SIZE:]

    with pytest.raises(UnknownSchemaError, match="0123456789abcdef"):
        LinkClickCodec().decode(message)


def test_message_from_an_unregistered_newer_schema_raises_unknown_schema():
    message = AvroCodec(future_schema()).encode(click().to_record())

    with pytest.raises(UnknownSchemaError, match=message[2:HEADER_SIZE].hex()):
        LinkClickCodec().decode(message)


@pytest.mark.parametrize(
    ("message", "got"),
    [
        pytest.param(b"", "got 0 bytes starting with nothing", id="empty"),
        pytest.param(b"\xc3", "got 1 bytes starting with c3", id="magic-only-half"),
        pytest.param(GOLDEN[: HEADER_SIZE - 1], "got 9 bytes starting with c3 01", id="short-header"),
        pytest.param(b"not avro at all, just text", "starting with 6e 6f", id="garbage"),
        pytest.param(b"\xc3\x02" + GOLDEN[2:], "starting with c3 02", id="wrong-format-version"),
        pytest.param(b"\x00\x00\x00\x00\x01" + GOLDEN[HEADER_SIZE:], "starting with 00 00", id="confluent"),
    ],
)
def test_non_single_object_message_raises_malformed(message, got):
    with pytest.raises(MalformedMessageError, match="expected 10\\+ bytes starting with C3 01") as caught:
        LinkClickCodec().decode(message)

    assert got in str(caught.value)


def test_every_truncation_of_the_body_raises_malformed():
    codec = LinkClickCodec()
    decoded_without_error = []

    for cut in range(HEADER_SIZE, len(GOLDEN)):
        try:
            codec.decode(GOLDEN[:cut])
        except MalformedMessageError:
            continue
        decoded_without_error.append(cut)

    assert decoded_without_error == []


def test_truncated_body_error_names_the_decoder_failure():
    with pytest.raises(MalformedMessageError, match="cannot decode Avro body") as caught:
        LinkClickCodec().decode(GOLDEN[:-1])

    assert caught.value.__cause__ is not None


def test_trailing_bytes_raise_malformed_with_their_count():
    with pytest.raises(MalformedMessageError, match="3 trailing bytes"):
        LinkClickCodec().decode(GOLDEN + b"\x00\x00\x00")


# --- records that do not fit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"link_id": 42}, "link_id", id="int-link-id"),
        pytest.param({"latitude": "north"}, "latitude", id="string-latitude"),
        pytest.param({"timestamp": "yesterday"}, "timestamp", id="string-timestamp"),
        pytest.param({"type": "LINK_ARCHIVED"}, "LINK_ARCHIVED", id="unknown-enum-symbol"),
        pytest.param({"extra": 1}, "extra", id="extra-field"),
    ],
)
def test_record_that_does_not_fit_raises_invalid_record(change, field):
    record = {**click().to_record(), **change}

    with pytest.raises(InvalidRecordError, match=field) as caught:
        AvroCodec(link_click_schema()).encode(record)

    assert "clickpipe.events.LinkClick" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_record_missing_a_required_field_raises_invalid_record():
    record = click().to_record()
    del record["link_id"]

    with pytest.raises(InvalidRecordError, match="link_id"):
        AvroCodec(link_click_schema()).encode(record)


def test_event_with_wrong_field_type_raises_invalid_record():
    with pytest.raises(InvalidRecordError, match="latitude"):
        LinkClickCodec().encode(click(latitude="48.85"))


def test_record_missing_a_field_with_default_is_encoded_with_the_default():
    record = {"link_id": "lnk-1", "account_id": "acc-1", "destination": "d", "timestamp": NEW_YEAR}
    codec = AvroCodec(link_click_schema())

    decoded = codec.decode(codec.encode(record))

    assert decoded["type"] == "LINK_CLICK"
    assert decoded["is_bot"] is False
    assert decoded["country"] is None
    assert decoded["slug"] is None


def test_naive_timestamp_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        click(timestamp=datetime(2026, 1, 1))  # noqa: DTZ001


# --- schema evolution ---------------------------------------------------------------------------------------


def test_v2_message_decodes_with_current_reader_and_v3_defaults():
    v2_record = {**PINNED_CLICK.to_record(), "type": "LINK_CLICK"}
    for added in ("device", "browser", "os", "referer_domain", "rule", "bot_reason", "visitor"):
        del v2_record[added]
    message = AvroCodec(load_schema("link_click.v2.avsc")).encode(v2_record)

    decoded = LinkClickCodec().decode(message)

    assert message[2:HEADER_SIZE] == bytes.fromhex("27718c839100ef5b")
    assert decoded == dataclasses.replace(
        PINNED_CLICK,
        device=None,
        browser=None,
        os=None,
        referer_domain=None,
        rule=None,
        bot_reason=None,
        visitor=None,
    )


def test_v1_message_decodes_with_current_reader_and_v2_defaults():
    v1_record = {
        "link_id": "lnk-1",
        "account_id": "acc-1",
        "country": "DE",
        "destination": "https://example.com/de",
        "latitude": 52.52,
        "longitude": 13.405,
        "timestamp": NEW_YEAR,
    }
    message = AvroCodec(load_schema("link_click.v1.avsc")).encode(v1_record)

    decoded = LinkClickCodec().decode(message)

    assert message[2:HEADER_SIZE] == V1_FINGERPRINT
    assert decoded == LinkClick(
        link_id="lnk-1",
        account_id="acc-1",
        country="DE",
        destination="https://example.com/de",
        latitude=52.52,
        longitude=13.405,
        timestamp=NEW_YEAR,
        type=EventType.LINK_CLICK,
        event_id="",
        user_agent=None,
        referer=None,
        city=None,
        region=None,
        continent=None,
        is_bot=False,
    )


def test_v1_reader_still_reads_v3_messages():
    v1 = load_schema("link_click.v1.avsc")
    old_reader = AvroCodec(v1, known_schemas=[link_click_schema()])

    decoded = old_reader.decode(GOLDEN)

    assert decoded == {
        "link_id": "lnk-1",
        "account_id": "acc-1",
        "country": "FR",
        "destination": "https://example.com/x",
        "latitude": 48.8566,
        "longitude": 2.3522,
        "timestamp": NEW_YEAR,
    }


def test_unknown_event_type_from_known_future_schema_decodes_to_unknown():
    future = future_schema()
    message = AvroCodec(future).encode({**click().to_record(), "type": "LINK_ARCHIVED"})
    reader = AvroCodec(future, reader_schema=link_click_schema(), known_schemas=[future])

    event = LinkClick.from_record(reader.decode(message))

    assert event.type is EventType.UNKNOWN
    assert event.link_id == "lnk-1"


def test_a_disabled_link_visit_round_trips():
    event = click(type=EventType.LINK_DISABLED, slug="paused", link_id="lnk-9")
    assert LinkClickCodec().decode(LinkClickCodec().encode(event)) == event
