"""The visitor-facing routes: the redirect, and health for the load balancer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from producer.clicks import build_click
from producer.deps import ServicesDep

router = APIRouter()

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

# A cached redirect is a lost click: browsers and proxies must ask again every time.
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private", "Pragma": "no-cache"}

_NOT_FOUND_PAGE = (
    "<!doctype html><html><head><title>Link not found</title></head>"
    "<body><h1>Link not found</h1><p>This link does not exist.</p></body></html>"
)


@router.get("/healthz", tags=["health"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Return ok while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], summary="Readiness: clicks can reach the broker")
async def readyz(services: ServicesDep, response: Response) -> dict[str, str]:
    """Return 200 when the publisher is connected, 503 otherwise (redirects still work)."""
    if services.publisher.ready:
        return {"status": "ready"}
    response.status_code = 503
    return {"status": "not ready", "reason": "not connected to the broker"}


@router.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    """Return the service's metrics in the Prometheus text format."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.api_route(
    "/{slug}",
    methods=["GET", "HEAD"],
    tags=["redirect"],
    summary="Redirect a visitor",
    response_class=RedirectResponse,
    status_code=302,
    responses={404: {"description": "No link has this slug", "content": {"text/html": {}}}},
)
async def redirect(
    slug: Annotated[str, Path(pattern=SLUG_PATTERN, description="The link's slug.")],
    services: ServicesDep,
    request: Request,
) -> Response:
    """Answer 302 to the link's destination for the visitor's country; the click is recorded on the side."""
    link = await services.store.get_by_slug(slug)
    if link is None:
        return HTMLResponse(_NOT_FOUND_PAGE, status_code=404, headers=NO_CACHE)
    destination, event = build_click(link, request.headers, datetime.now(UTC))
    services.publisher.publish(event)
    return RedirectResponse(destination, status_code=302, headers=NO_CACHE)
