"""What a user agent says: device type, browser and OS (ua-parser's native matcher) and the bot verdict.

Parsing a user agent takes tens to hundreds of microseconds, but a few browsers make most traffic:
``describe`` remembers the last ``CACHE_SIZE`` user agents. It runs off the request path, in the
publisher's sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from ua_parser import Domain, load_lazy_builtins
from ua_parser.regex import Resolver

from producer.bots import bot_reason

CACHE_SIZE = 4096

DESKTOP, MOBILE, TABLET, OTHER = "desktop", "mobile", "tablet", "other"

_DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Chrome OS",
        "Ubuntu",
        "Fedora",
        "Debian",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
    }
)
_MOBILE_OS = frozenset({"iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS"})
# Looked for in ua-parser's device family and brand: iPad, "Generic Tablet", "Generic_Android_Tablet", Kindle.
_TABLET = re.compile(r"iPad|Tablet|Kindle", re.IGNORECASE)
# Looked for in the user agent: TVs, streaming sticks and consoles, many of which run Android or Linux.
_TV_OR_CONSOLE = re.compile(
    r"Smart-?TV|\bTV\b|\bAFT[A-Z]|CrKey|Roku|BRAVIA|PlayStation|Xbox|Nintendo", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Agent:
    """What is known of a user agent; None where nothing is."""

    device: str | None = None  # DESKTOP, MOBILE, TABLET or OTHER
    browser: str | None = None  # ua-parser's family, e.g. "Chrome", "Mobile Safari"
    os: str | None = None  # ua-parser's family, e.g. "iOS", "Windows"
    bot_reason: str | None = None  # why it is a bot (``producer.bots``); None for a person

    @property
    def is_bot(self) -> bool:
        """True when ``bot_reason`` says why it is a bot."""
        return self.bot_reason is not None


@lru_cache(maxsize=CACHE_SIZE)
def describe(user_agent: str | None) -> Agent:
    """``parse``, remembered for the last ``CACHE_SIZE`` user agents. Give it capped user agents
    only: the cache keeps what it is given."""
    return parse(user_agent)


def parse(user_agent: str | None) -> Agent:
    """Device type, browser and OS families and the bot verdict of ``user_agent`` (None: a bot, no device)."""
    reason = bot_reason(user_agent)
    if not user_agent:
        return Agent(bot_reason=reason)
    result = _resolver()(user_agent, Domain.ALL)
    device = result.device
    os = _known(result.os.family if result.os else None)
    return Agent(
        device=device_type(
            user_agent, os, device.family if device else None, device.brand if device else None
        ),
        browser=_known(result.user_agent.family if result.user_agent else None),
        os=os,
        bot_reason=reason,
    )


def device_type(user_agent: str, os: str | None, device_family: str | None, device_brand: str | None) -> str:
    """The device type from a user agent and what ua-parser made of it (OS family, device family, brand)."""
    if device_family == "Spider" or _TV_OR_CONSOLE.search(user_agent):
        return OTHER
    if _TABLET.search(f"{device_family or ''} {device_brand or ''}"):
        return TABLET
    if os == "Android":  # Android phones say "Mobile"; tablets leave it out (Google's advice to browsers)
        return MOBILE if "Mobile" in user_agent else TABLET
    if os in _MOBILE_OS or device_family in ("iPhone", "iPod"):
        return MOBILE
    if os in _DESKTOP_OS:
        return DESKTOP
    return OTHER


def warm() -> None:
    """Build the matchers now (a few hundred milliseconds) rather than on the first click."""
    parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")


@cache
def _resolver() -> Resolver:
    """ua-parser's native (Rust) resolver over its built-in rules, built once on first use; no cache of its
    own, ``describe`` caches whole answers."""
    return Resolver(load_lazy_builtins())


def _known(family: str | None) -> str | None:
    return None if family is None or family == "Other" else family
