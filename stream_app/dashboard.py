"""The analytics dashboard: a static page served by the worker, reading ``GET /api/analytics``.

Its libraries are vendored under ``static/vendor`` (Chart.js, d3-geo, topojson-client, world-atlas; see the
README there) so the page needs nothing but the worker.
"""

from __future__ import annotations

from importlib import resources

import faust
from faust.web import Request, Response, View

_JS, _JSON = "application/javascript", "application/json"
DASHBOARD_FILES: dict[str, tuple[str, str]] = {
    "/dashboard": ("dashboard.html", "text/html"),
    "/static/dashboard.js": ("dashboard.js", _JS),
    "/static/dashboard-state.js": ("dashboard-state.js", _JS),
    "/static/dashboard-map.js": ("dashboard-map.js", _JS),
    "/static/dashboard.css": ("dashboard.css", "text/css"),
    "/static/vendor/chart.umd.min.js": ("vendor/chart.umd.min.js", _JS),
    "/static/vendor/d3-array.min.js": ("vendor/d3-array.min.js", _JS),
    "/static/vendor/d3-geo.min.js": ("vendor/d3-geo.min.js", _JS),
    "/static/vendor/topojson-client.min.js": ("vendor/topojson-client.min.js", _JS),
    "/static/vendor/countries-110m.json": ("vendor/countries-110m.json", _JSON),
    "/static/vendor/countries-110m.iso-alpha2.json": (
        "vendor/countries-110m.iso-alpha2.json",
        "application/json",
    ),
}
"""URL path -> (file under ``stream_app/static``, content type): everything the dashboard loads."""


def dashboard_file(path: str) -> tuple[bytes, str]:
    """The body and content type served at ``path`` (a key of :data:`DASHBOARD_FILES`)."""
    name, content_type = DASHBOARD_FILES[path]
    return resources.files("stream_app").joinpath("static").joinpath(name).read_bytes(), content_type


def register_dashboard(app: faust.App) -> None:
    """Serve the dashboard at ``/dashboard`` (and its assets under ``/static``)."""
    for path in DASHBOARD_FILES:
        body, content_type = dashboard_file(path)

        class StaticFile(View):
            payload = body
            kind = content_type

            async def get(self, request: Request) -> Response:
                return self.bytes(self.payload, content_type=self.kind, headers={"Cache-Control": "no-cache"})

        app.page(path, name=f"static:{DASHBOARD_FILES[path][0]}")(StaticFile)
