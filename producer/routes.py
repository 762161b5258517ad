"""The visitor-facing routes: the redirect (as documented; ``producer.redirect`` serves it), and health for
the load balancer."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from producer.deps import ServicesDep
from producer.redirect import NOT_FOUND, Redirector
from producer.validation import SLUG_PATTERN

router = APIRouter()

_SLUG = re.compile(SLUG_PATTERN)


@router.get("/healthz", tags=["health"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Return ok while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], summary="Readiness: clicks are being recorded")
async def readyz(services: ServicesDep, response: Response) -> dict[str, str]:
    """200 when clicks reach the broker or the spool; 503 when they cannot be recorded at all, or when the
    spool holds more than ``SPOOL_READY_MAX_BYTES`` (it nears its cap, past which clicks are dropped)."""
    state = services.publisher.state
    if state not in ("connected", "spooling"):
        response.status_code = 503
        return {"status": "not ready", "publisher": state}
    spooled, limit = services.publisher.spool_bytes, services.settings.spool_ready_max_bytes
    if spooled > limit:
        response.status_code = 503
        return {
            "status": "not ready",
            "publisher": state,
            "reason": f"the spool holds {spooled} bytes, over {limit}",
        }
    return {"status": "ready", "publisher": state}


@router.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    """Return the service's metrics in the Prometheus text format."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


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

    The CF-* visitor-location headers count only from a trusted proxy. The redirect is never cached.
    ``producer.redirect.RedirectFront`` serves this route ahead of FastAPI; FastAPI sees only paths that are
    not a well-formed slug (404, not recorded), or the route when its app is mounted without the front.
    """
    reply = NOT_FOUND
    if _SLUG.fullmatch(slug):
        redirector: Redirector = request.app.state.redirector
        client = request.client.host if request.client else None
        reply = await redirector.answer(slug, client, request.headers)
    headers = {name.decode(): value.decode("latin-1") for name, value in reply.headers}
    return Response(reply.body, reply.status, headers=headers)


router.add_api_route("/{slug}", redirect, methods=["HEAD"], include_in_schema=False)
