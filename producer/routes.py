"""The visitor-facing routes: the redirect, and health for the load balancer."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from producer.clicks import visit_event
from producer.deps import ServicesDep
from producer.geo import UNKNOWN, geo_from_headers, is_trusted
from producer.links import LinkState
from producer.validation import SLUG_PATTERN

router = APIRouter()

_SLUG = re.compile(SLUG_PATTERN)

# A cached redirect is a lost click: browsers and proxies must ask again every time.
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
}


def _page(title: str, text: str, status: int) -> HTMLResponse:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=NO_CACHE)


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
async def redirect(slug: str, services: ServicesDep, request: Request) -> Response:
    """Answer 302 to the link's destination for the visitor's country; the visit is recorded on the side.

    The CF-* visitor-location headers count only from a trusted proxy. The redirect is never cached.
    """
    if not _SLUG.fullmatch(slug):
        return _page("Link not found", "This link does not exist.", 404)
    link = await services.cache.get(slug)
    client = request.client.host if request.client else None
    geo = geo_from_headers(request.headers) if is_trusted(client, services.trusted_proxies) else UNKNOWN
    now = services.clock()
    destination, event = visit_event(
        slug,
        link,
        geo,
        now,
        user_agent=request.headers.get("user-agent"),
        referer=request.headers.get("referer"),
    )
    services.publisher.publish(event)
    if destination is not None:
        return RedirectResponse(destination, status_code=302, headers=NO_CACHE)
    if link is None:
        return _page("Link not found", "This link does not exist.", 404)
    if link.state(now) is LinkState.EXPIRED:
        return _page("Link expired", "This link has expired.", 410)
    return _page("Link disabled", "This link has been disabled.", 410)


router.add_api_route("/{slug}", redirect, methods=["HEAD"], include_in_schema=False)
