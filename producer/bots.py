"""Telling known bots and link-preview crawlers from people, by user agent: a pure function."""

from __future__ import annotations

import re
from functools import lru_cache

# Search engines, link-preview fetchers of chat and social apps, monitoring, and HTTP libraries.
_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|mediapartners|facebookexternalhit|facebookcatalog|embedly"
    r"|quora link preview|outbrain|pinterest|vkshare|w3c_validator|whatsapp|skypeuripreview|nuzzel"
    r"|redditbot|applebot|google-"
    r"|bingpreview|yandex|baiduspider|duckduckgo|headlesschrome|phantomjs|lighthouse|pingdom|uptimerobot"
    r"|statuscake|curl/|wget/|python-requests|python-httpx|python-urllib|aiohttp|go-http-client|okhttp"
    r"|java/|libwww|httpclient|axios|node-fetch|postmanruntime|insomnia",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None) -> bool:
    """True for a known bot, crawler, preview fetcher or HTTP library; also for a missing user agent."""
    if not user_agent:
        return True
    return _BOT.search(user_agent) is not None


@lru_cache(maxsize=4096)
def is_bot_cached(user_agent: str | None) -> bool:
    """``is_bot``, remembered for the last 4,096 user agents (a few browsers make most traffic). Give it
    capped user agents only: the cache keeps what it is given."""
    return is_bot(user_agent)
