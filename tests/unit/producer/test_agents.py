"""What a user agent says, table-tested with real user agents: device type, browser, OS and bot reason."""

from __future__ import annotations

import pytest

from producer.agents import CACHE_SIZE, DESKTOP, MOBILE, OTHER, TABLET, Agent, describe, device_type, parse

# (user agent, device, browser, os)
PEOPLE = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        DESKTOP,
        "Chrome",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        DESKTOP,
        "Edge",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        DESKTOP,
        "Firefox",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Safari/605.1.15",
        DESKTOP,
        "Safari",
        "Mac OS X",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", DESKTOP, "Firefox", "Linux"),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        DESKTOP,
        "Firefox",
        "Ubuntu",
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        DESKTOP,
        "Chrome",
        "Chrome OS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1",
        MOBILE,
        "Mobile Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.33.116]",
        MOBILE,
        "Facebook",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Mobile Safari/537.36",
        MOBILE,
        "Chrome Mobile",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        MOBILE,
        "Chrome Mobile",
        "Android",
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0",
        MOBILE,
        "Firefox Mobile",
        "Android",
    ),
    (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
        MOBILE,
        "Edge Mobile",
        "Windows Phone",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1",
        TABLET,
        "Mobile Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        TABLET,
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Android 14; Tablet; rv:120.0) Gecko/120.0 Firefox/120.0",
        TABLET,
        "Firefox Mobile",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.1.1 "
        "like Chrome/120.0.0.0 Safari/537.36",
        TABLET,
        "Amazon Silk",
        "Android",
    ),
    (
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
        OTHER,
        "Samsung Internet",
        "Tizen",
    ),
    (
        "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        OTHER,
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.0 Safari/605.1.15",
        OTHER,
        "Safari",
        None,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edge/44.18363.8131",
        OTHER,
        "Edge",
        "Windows",
    ),
]

# (user agent, device, browser, os, bot reason)
BOTS = [
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        OTHER,
        "Googlebot",
        None,
        "Googlebot",
    ),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        OTHER,
        "Googlebot",
        "Android",
        "Googlebot",
    ),
    (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        OTHER,
        "FacebookBot",
        None,
        "facebookexternalhit",
    ),
    ("curl/8.4.0", OTHER, "curl", None, "curl"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
        DESKTOP,
        "HeadlessChrome",
        "Linux",
        "Headless",
    ),
]


@pytest.mark.parametrize(("agent", "device", "browser", "os"), PEOPLE)
def test_people(agent: str, device: str, browser: str | None, os: str | None) -> None:
    assert parse(agent) == Agent(device, browser, os, None)


@pytest.mark.parametrize(("agent", "device", "browser", "os", "reason"), BOTS)
def test_bots_keep_their_families_and_say_why(
    agent: str, device: str, browser: str | None, os: str | None, reason: str
) -> None:
    said = parse(agent)
    assert said == Agent(device, browser, os, reason)
    assert said.is_bot


def test_no_user_agent_is_a_bot_of_no_device() -> None:
    assert parse(None) == parse("") == Agent(bot_reason="no user agent")


def test_an_unknown_agent_is_other_with_unknown_families() -> None:
    assert parse("SomethingNew/1.0") == Agent(OTHER, None, None, None)


@pytest.mark.parametrize(
    ("os", "family", "brand", "device"),
    [
        ("Android", "Generic Smartphone", "Generic", TABLET),  # no "Mobile" in the agent below
        ("iOS", "iPod", "Apple", MOBILE),
        (None, "Generic Tablet", "Generic", TABLET),
        ("Windows", "Spider", "Spider", OTHER),
        ("Windows", None, None, DESKTOP),
        (None, None, None, OTHER),
    ],
)
def test_device_type_from_what_ua_parser_found(
    os: str | None, family: str | None, brand: str | None, device: str
) -> None:
    assert device_type("Mozilla/5.0", os, family, brand) == device


def test_described_agents_are_cached_and_the_cache_bounded() -> None:
    agents = [row[0] for row in PEOPLE] + [row[0] for row in BOTS]
    describe.cache_clear()
    first = [describe(agent) for agent in agents]
    assert [describe(agent) for agent in agents] == first == [parse(agent) for agent in agents]
    info = describe.cache_info()
    assert (info.maxsize, info.hits, info.misses) == (CACHE_SIZE, len(agents), len(agents))
