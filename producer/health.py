"""Health and metrics over HTTP: `/healthz`, `/readyz` for the load balancer, `/metrics` for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from producer.deps import ServicesDep

router = APIRouter()


@router.get("/healthz", tags=["health"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Return ok while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], summary="Readiness: clicks are being recorded")
async def readyz(services: ServicesDep, response: Response) -> dict[str, str]:
    """200 when clicks reach the broker or the spool; 503 when they cannot be recorded at all, when the
    spool holds more than ``SPOOL_READY_MAX_BYTES`` (it nears its cap, past which clicks are dropped), or
    when the link view no longer follows the database (``links: failed``). A lost database is no reason:
    the known links go on redirecting while the view reconnects."""
    links = services.cache.state  # cached (SQLite), or the notified view's: listening, reconnecting ...
    if links == "failed":
        response.status_code = 503
        return {"status": "not ready", "links": links}
    state = services.publisher.state
    if state not in ("connected", "spooling"):
        response.status_code = 503
        return {"status": "not ready", "publisher": state, "links": links}
    spooled, limit = services.publisher.spool_bytes, services.settings.spool_ready_max_bytes
    if spooled > limit:
        response.status_code = 503
        return {
            "status": "not ready",
            "publisher": state,
            "links": links,
            "reason": f"the spool holds {spooled} bytes, over {limit}",
        }
    return {"status": "ready", "publisher": state, "links": links}


@router.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    """Return the service's metrics in the Prometheus text format."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
