import pytest

from producer.validation import check_country, check_destination, check_slug


@pytest.mark.parametrize("slug", ["a", "A1", "spring-sale_2026", "x" * 64])
def test_good_slugs(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("", "1-64"),
        ("x" * 65, "1-64"),
        ("-start", "starting with"),
        ("has space", "letters, digits"),
        ("dot.ted", "letters, digits"),
        ("ümlaut", "letters, digits"),
        ("api", "reserved"),
        ("Metrics", "reserved"),
        ("healthz", "reserved"),
        ("sale\n", "letters, digits"),
    ],
)
def test_bad_slugs_say_why(slug: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_slug(slug)


@pytest.mark.parametrize(
    "url", ["https://example.com/", "http://example.com/a?b=c#d", "https://[::1]:8443/x"]
)
def test_good_destinations(url: str) -> None:
    assert check_destination(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "http\\(s\\)"),
        ("data:text/html,<script>alert(1)</script>", "http\\(s\\)"),
        ("/relative/path", "relative"),
        ("//example.com/protocol-relative", "relative"),
        ("ftp://example.com/file", "http\\(s\\)"),
        ("https://", "host"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com/\nSet-Cookie: x", "whitespace"),
        ("https://example.com/" + "a" * 2100, "longer"),
        ("https://example.com/\udc80", "lone surrogate"),
        ("https://example.com:99999/", "port"),
        ("https://example.com:0/", "port"),
        ("https://example.com:http/", "port"),
        ("https://example.com/\x7f", "control"),
        ("https://example.com/\x85", "control"),
        ("https://example.com/\u202egnp.exe", "U\\+202E"),
        ("https://exa\u200bmple.com/", "U\\+200B"),
    ],
)
def test_bad_destinations_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_destination(url)


def test_country_codes_are_assigned_iso_alpha2_in_upper_case() -> None:
    assert check_country("DE") == "DE"
    for bad in ("de", "DEU", "XX", "ZZ", "UK", ""):
        with pytest.raises(ValueError, match="ISO 3166-1"):
            check_country(bad)
