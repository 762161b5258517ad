import pytest
from starlette.datastructures import Headers

from producer.geo import Geo, geo_from_headers, is_trusted, parse_coordinate, parse_country, parse_networks

NETWORKS = parse_networks(["127.0.0.1/32", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("client", "trusted"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("::1", True),
        ("192.168.1.1", False),
        (None, False),
        ("x", False),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.9.8.7", True),
        ("::ffff:192.168.1.1", False),
    ],
)
def test_only_trusted_proxies_are_believed(client: str | None, trusted: bool) -> None:
    assert is_trusted(client, NETWORKS) is trusted


def test_a_bad_network_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        parse_networks(["not-a-network"])


@pytest.mark.parametrize(
    ("header", "country"),
    [
        ("DE", "DE"),
        (" de ", "DE"),
        ("XX", None),
        ("T1", None),
        ("ZZ", None),
        ("DEU", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_country(header: str | None, country: str | None) -> None:
    assert parse_country(header) == country


@pytest.mark.parametrize("value", ["91", "-90.5", "nan", "inf", "north", "", None])
def test_bad_latitudes_become_none(value: str | None) -> None:
    assert parse_coordinate(value, 90.0) is None


def test_every_header_is_read_and_checked() -> None:
    headers = Headers(
        {
            "CF-IPCountry": "fr",
            "CF-IPCity": "Paris",
            "CF-Region": "Île-de-France",
            "CF-IPContinent": "eu",
            "CF-IPLatitude": "48.8566",
            "CF-IPLongitude": "2.3522",
        }
    )
    assert geo_from_headers(headers) == Geo("FR", "Paris", "Île-de-France", "EU", 48.8566, 2.3522)


def test_junk_headers_become_none() -> None:
    headers = Headers({"CF-IPContinent": "Atlantis", "CF-IPCity": "\x01\x02", "CF-IPLongitude": "181"})
    assert geo_from_headers(headers) == Geo()
