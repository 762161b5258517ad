"""Security headers on every answer of the worker's web server (analytics API, dashboard, health, metrics).

The dashboard loads its scripts, styles and map from the worker itself (``static/vendor``) and reads the API
on the same origin, so one policy serves every answer: only this origin, no inline script, no framing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp middleware: ``HEADERS`` on every answer, errors aiohttp raises (404, 405) included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response
