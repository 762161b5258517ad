"""The referer's domain: lower case, ASCII (IDNA) form, no leading www., None for anything not a host."""

from __future__ import annotations

import pytest

from schemas.referers import referer_domain


@pytest.mark.parametrize(
    ("referer", "domain"),
    [
        ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com"),
        ("https://WWW.Google.COM/search?q=x", "google.com"),
        ("http://www.example.org:8080/path", "example.org"),
        ("https://user:secret@www.example.org/", "example.org"),
        ("https://example.org./", "example.org"),
        ("https://www.www.example.org/", "www.example.org"),  # only one leading www.
        ("https://wwwexample.org/", "wwwexample.org"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("https://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("http://192.0.2.7/x", "192.0.2.7"),
        ("http://[2001:DB8::1]:80/", "2001:db8::1"),
        ("  https://t.co/abc  ", "t.co"),
    ],
)
def test_the_host_is_kept(referer: str, domain: str) -> None:
    assert referer_domain(referer) == domain


@pytest.mark.parametrize(
    "referer",
    [
        None,
        "",
        "about:blank",
        "/relative/path",
        "example.org/no-scheme",
        "http://[::1/",  # unclosed bracket
        "http://[not-an-ip]/",
        "https://exa mple.org/",
        "https://ex%41mple.org/",
        "https://evil.org\x00.example/",
        "https://" + "a" * 300 + ".example/",  # a label longer than 63 characters
        "https://" + "a." * 200 + "example/",  # a name longer than 253 characters
        "https://\udcff.example/",  # a lone surrogate
        "https://\u2100.example/",  # NFKC makes it "a/c": urlsplit refuses it
        "https://" + "ü" * 70 + ".example/",
        "http://" + "[" * 1000,
    ],
)
def test_no_host_or_a_hostile_one_is_none_and_never_raises(referer: str | None) -> None:
    assert referer_domain(referer) is None
