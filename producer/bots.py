"""Telling bots from people by user agent: crawlerdetect (the crawler list Shlink uses), a pure function."""

from __future__ import annotations

import re
from collections.abc import Mapping

from crawlerdetect import CrawlerDetect

NO_USER_AGENT = "no user agent"
"""The bot reason of a request without a user agent."""

# What crawlerdetect 0.4 misses that the hand-written list this replaced caught: Outbrain's preview fetcher
# and the Insomnia API client (crawlerdetect counts its peer, Postman).
_SUPPLEMENT = re.compile(r"outbrain|insomnia/", re.IGNORECASE)

SCAN_CHARS = 256
"""How much of a user agent is scanned for crawler names. crawlerdetect's patterns cost superlinear time in
the length (a run of one letter: ~100 ms at 300 characters), and a visitor chooses the header, so only this
prefix is scanned: bots name themselves early (Googlebot's smartphone agent, among the longest, at ~150), and
the worst case stays bounded (``python -m bench.bots``)."""


def bot_reason(user_agent: str | None) -> str | None:
    """Why ``user_agent`` is a bot (the crawler pattern it matched, or ``NO_USER_AGENT``), None for a person.
    Slow (a few hundred microseconds): callers cache it per user agent, as ``producer.agents`` does."""
    if not user_agent or user_agent.isspace():
        return NO_USER_AGENT
    user_agent = user_agent[:SCAN_CHARS]
    detector = CrawlerDetect()  # one per call: it keeps its last match on itself, so it is not thread-safe
    if detector.is_crawler(user_agent):
        return detector.get_matches() or "crawler"
    found = _SUPPLEMENT.search(user_agent)
    return found.group(0) if found else None


HEAD_REQUEST = "HEAD request"
"""The bot reason of a ``HEAD``: link checkers and unfurlers ask for the headers only; a person's browser
never does."""

PURPOSE_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
"""The request headers a browser marks a fetch nobody asked for with: a prefetch, prerender or preview."""


def preview_reason(method: str, headers: Mapping[str, str]) -> str | None:
    """Why a request is no person's click whatever its user agent says: a ``HEAD`` (``HEAD_REQUEST``), or a
    browser's prefetch, prerender or preview (``"prefetch"``, ``"prerender"``, ``"preview"``, from the
    ``PURPOSE_HEADERS``, lower-case names); None for an ordinary visit."""
    if method == "HEAD":
        return HEAD_REQUEST
    for name in PURPOSE_HEADERS:
        value = headers.get(name)
        if value:
            value = value.lower()
            for purpose in ("prerender", "prefetch", "preview"):
                if purpose in value:
                    return purpose
    return None


def is_bot(user_agent: str | None) -> bool:
    """True for a known bot, crawler, preview fetcher or HTTP library; also for a missing user agent."""
    return bot_reason(user_agent) is not None
