import pytest

from producer.bots import is_bot, is_bot_cached

PEOPLE = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0)",
    "Discordbot/2.0",
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "curl/8.4.0",
    "python-requests/2.31",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
]


@pytest.mark.parametrize("agent", PEOPLE)
def test_browsers_are_people(agent: str) -> None:
    assert not is_bot(agent)


@pytest.mark.parametrize("agent", BOTS)
def test_bots_and_preview_crawlers_are_flagged(agent: str) -> None:
    assert is_bot(agent)


def test_no_user_agent_is_a_bot() -> None:
    assert is_bot(None)
    assert is_bot("")


def test_the_cached_verdict_is_the_same_and_the_cache_bounded() -> None:
    for agent in [*PEOPLE, *BOTS, None, ""]:
        assert is_bot_cached(agent) is is_bot(agent)
        assert is_bot_cached(agent) is is_bot(agent)
    info = is_bot_cached.cache_info()
    assert info.maxsize == 4096 and info.hits >= len(PEOPLE) + len(BOTS)
