"""The redirect, ``GET``/``HEAD /{slug}``: a small ASGI layer in front of the FastAPI app.

Every visitor waits on this route, so it skips FastAPI's routing, dependency and middleware layers, runs no
thread, and does per request only what must be done then: a header scan, the link from the cache, the
destination for the visitor's country, and handing a small ``Visit`` to the publisher's queue (the event id,
the dimensions, the visitor key and the Avro record are made off the request path). What repeats is
remembered: whether a peer is a trusted proxy, the quoted ``Location`` of a destination (and, in the sender,
what a user agent says).

Everything else (the link API, docs, health, metrics) goes to the FastAPI app, as do paths that are not a
well-formed slug (FastAPI answers those 404 without recording them, as before) and the app's own paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple
from urllib.parse import quote

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from producer.bots import PURPOSE_HEADERS, preview_reason
from producer.clicks import visit
from producer.deps import Services
from producer.destinations import carry_query
from producer.errors import StoreError
from producer.geo import UNKNOWN, geo_from_headers, is_trusted
from producer.security_headers import STRICT
from producer.validation import SLUG_PATTERN
from producer.visitors import client_address
from schemas.events import EventType

_SLUG = re.compile(SLUG_PATTERN)
_GEO_HEADERS = ("cf-ipcountry", "cf-ipcity", "cf-region", "cf-ipcontinent", "cf-iplatitude", "cf-iplongitude")
_ADDRESS_HEADERS = ("cf-connecting-ip", "x-forwarded-for")
_WANTED = frozenset(
    name.encode() for name in ("user-agent", "referer", *_GEO_HEADERS, *_ADDRESS_HEADERS, *PURPOSE_HEADERS)
)
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"  # as Starlette's RedirectResponse quotes a Location
_MEMO_MAX = 10_000

# A cached redirect is a lost click: browsers and proxies must ask again every time.
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
}
_NO_CACHE = [(name.lower().encode(), value.encode()) for name, value in NO_CACHE.items()]
_FIXED = [*_NO_CACHE, *STRICT]  # every reply of the redirect's

Headers = list[tuple[bytes, bytes]]


class Reply(NamedTuple):
    """A response: status, headers (with content-length) and the body a GET gets."""

    status: int
    headers: Headers
    body: bytes


def _page(title: str, text: str, status: int) -> Reply:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    ).encode()
    return _reply(status, html, b"text/html; charset=utf-8")


def _reply(status: int, body: bytes, content_type: bytes) -> Reply:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *_FIXED]
    return Reply(status, headers, body)


NOT_FOUND = _page("Link not found", "This link does not exist.", 404)
EXPIRED = _page("Link expired", "This link has expired.", 410)
DISABLED = _page("Link disabled", "This link has been disabled.", 410)
UNAVAILABLE = _reply(503, b'{"detail":"the link database is unavailable; try again"}', b"application/json")
_NOT_LIVE = {EventType.LINK_NOT_FOUND: NOT_FOUND, EventType.LINK_EXPIRED: EXPIRED}


class Redirector:
    """Answers a visit to a slug and hands the visit to the publisher; framework-free apart from bytes."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._cache = services.cache
        self._publisher = services.publisher
        self._clock = services.clock
        self._proxies = services.trusted_proxies
        self._visitors = services.visitors
        self._trusted: dict[str | None, bool] = {}
        self._locations: dict[str, Headers] = {}

    async def answer(
        self, slug: str, client: str | None, headers: Mapping[str, str], query: str = "", method: str = "GET"
    ) -> Reply:
        """The reply to a ``method`` (GET or HEAD) visit of ``slug`` (a well-formed slug) from peer
        ``client`` with ``headers`` (lower case names) and the query string ``query``, which is carried onto
        the destination (``producer.destinations.carry_query``). The CF-* visitor-location and address
        headers count only from a trusted proxy. A HEAD, prefetch or preview is recorded as a bot's visit."""
        try:
            link = await self._cache.get(slug)
        except StoreError:
            return UNAVAILABLE
        trusted = self._is_trusted(client)
        destination, seen = visit(
            slug,
            link,
            geo_from_headers(headers) if trusted else UNKNOWN,
            self._clock(),
            user_agent=headers.get("user-agent"),
            referer=headers.get("referer"),
            ip=client_address(client, headers, trusted),
            visitors=self._visitors,
            preview=preview_reason(method, headers),
        )
        self._publisher.publish(seen)
        if destination is None:
            return _NOT_LIVE.get(seen.event_type, DISABLED)
        if query:
            return Reply(302, _location_headers(carry_query(destination, query)), b"")
        return Reply(302, self._location(destination), b"")

    def _is_trusted(self, client: str | None) -> bool:
        trusted = self._trusted.get(client)
        if trusted is None:
            if len(self._trusted) >= _MEMO_MAX:
                self._trusted.clear()
            trusted = self._trusted[client] = is_trusted(client, self._proxies)
        return trusted

    def _location(self, destination: str) -> Headers:
        headers = self._locations.get(destination)
        if headers is None:
            if len(self._locations) >= _MEMO_MAX:
                self._locations.clear()
            headers = self._locations[destination] = _location_headers(destination)
        return headers


def _location_headers(destination: str) -> Headers:
    location = quote(destination, safe=_LOCATION_SAFE).encode("latin-1")
    return [(b"location", location), (b"content-length", b"0"), *_FIXED]


class RedirectFront:
    """ASGI app: serves ``GET``/``HEAD /{slug}`` with a ``Redirector``, passes all else to ``app``.

    Args:
        app: the FastAPI app (lifespan, API, docs, health, metrics).
        redirector: answers the visits.
        own_paths: the app's one-segment paths (``/healthz``, ``/docs`` ...), which are not slugs.
    """

    def __init__(self, app: ASGIApp, redirector: Redirector, own_paths: Iterable[str]) -> None:
        self.app = app
        self.redirector = redirector
        self._own = frozenset(own_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ((method := scope["method"]) == "GET" or method == "HEAD"):
            path: str = scope["path"]
            slug = path[1:]
            if "/" not in slug and path not in self._own and _SLUG.fullmatch(slug):
                found: dict[str, str] = {}
                for name, value in scope["headers"]:
                    if name in _WANTED and (key := name.decode()) not in found:
                        found[key] = value.decode("latin-1")
                client = scope.get("client")
                query = scope["query_string"].decode("latin-1")
                peer = client[0] if client else None
                reply = await self.redirector.answer(slug, peer, found, query, method)
                await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
                await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})
                return
        await self.app(scope, receive, send)


def own_paths(routes: Iterable[object]) -> set[str]:
    """The one-segment, parameter-free paths among an app's routes."""
    return {
        route.path
        for route in routes
        if isinstance(route, Route) and "{" not in route.path and route.path.count("/") == 1
    }
