"""The redirect as a FastAPI route: its OpenAPI entry, and the fallback when the app is served without
``producer.redirect.RedirectFront`` (which answers ``GET``/``HEAD /{slug}`` ahead of FastAPI)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from producer.redirect import NOT_FOUND, Redirector
from producer.validation import SLUG_PATTERN

router = APIRouter()

_SLUG = re.compile(SLUG_PATTERN)


@router.get(
    "/{slug}",
    tags=["redirect"],
    summary="Redirect a visitor",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        404: {"description": "No link has this slug", "content": {"text/html": {}}},
        410: {"description": "The link is disabled or expired", "content": {"text/html": {}}},
    },
)
async def redirect(slug: str, request: Request) -> Response:
    """Answer 302 to the link's destination for the visitor's country; the visit is recorded on the side.

    The short link's query string is carried onto the destination: the destination's own parameters keep
    their place, one the visit also names takes the visit's value, the visit's others follow
    (``?utm_source=x`` lands on the destination). The CF-* visitor-location headers count only from a
    trusted proxy. The redirect is never cached.
    ``producer.redirect.RedirectFront`` serves this route ahead of FastAPI; FastAPI sees only paths that are
    not a well-formed slug (404, not recorded), or the route when its app is mounted without the front.
    """
    reply = NOT_FOUND
    if _SLUG.fullmatch(slug):
        redirector: Redirector = request.app.state.redirector
        client = request.client.host if request.client else None
        reply = await redirector.answer(slug, client, request.headers, request.url.query, request.method)
    headers = {name.decode(): value.decode("latin-1") for name, value in reply.headers}
    return Response(reply.body, reply.status, headers=headers)


router.add_api_route("/{slug}", redirect, methods=["HEAD"], include_in_schema=False)
