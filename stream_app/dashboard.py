"""The analytics dashboard: a static page (Chart.js) served by the worker, reading the stats API."""

from __future__ import annotations

from importlib import resources

import faust
from faust.web import Request, Response, View

_FILES = {
    "/dashboard": ("dashboard.html", "text/html"),
    "/static/dashboard.js": ("dashboard.js", "application/javascript"),
    "/static/dashboard.css": ("dashboard.css", "text/css"),
    "/static/vendor/chart.umd.min.js": ("vendor/chart.umd.min.js", "application/javascript"),
}


def register_dashboard(app: faust.App) -> None:
    """Serve the dashboard at ``/dashboard`` (and its assets under ``/static``)."""
    root = resources.files("stream_app").joinpath("static")
    for path, (name, content_type) in _FILES.items():
        body = root.joinpath(name).read_bytes()

        class StaticFile(View):
            payload = body
            kind = content_type

            async def get(self, request: Request) -> Response:
                return self.bytes(self.payload, content_type=self.kind, headers={"Cache-Control": "no-cache"})

        app.page(path, name=f"static:{name}")(StaticFile)
