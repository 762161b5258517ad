"""The redirect's anchors: the same job (a dict lookup, a 302) as a raw ASGI app and as a bare FastAPI route.

Served with the same server and flags as clickpipe by ``bench.redirect`` (``bench.anchors:raw`` and
``bench.anchors:bare_fastapi``), so the ratios say what clickpipe's own code costs.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response

LINKS = {"demo": b"https://example.com/"}
NO_CACHE = [(b"cache-control", b"no-store"), (b"content-length", b"0")]


async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI redirect: the ceiling for Python on one core."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    target = LINKS.get(scope["path"][1:])
    if target is None:
        await send({"type": "http.response.start", "status": 404, "headers": NO_CACHE})
    else:
        headers = [(b"location", target), *NO_CACHE]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _bare() -> FastAPI:
    app = FastAPI()

    @app.get("/{slug}")
    async def redirect(slug: str) -> Response:
        target = LINKS.get(slug)
        if target is None:
            return Response(status_code=404)
        return RedirectResponse(target.decode(), status_code=302, headers={"Cache-Control": "no-store"})

    return app


bare_fastapi = _bare()


def main() -> None:
    """Serve an anchor: ``python -m bench.anchors raw|bare --server granian|uvicorn --port P``."""
    import argparse

    from producer.main import SERVERS, run_server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=("raw", "bare"))
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    target = "bench.anchors:raw" if args.app == "raw" else "bench.anchors:bare_fastapi"
    run_server(target, server=args.server, host="127.0.0.1", port=args.port, log_config=None)


if __name__ == "__main__":
    main()
