"""The dashboard's scripts, read as text: no HTML sink, and the API key goes where it should."""

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from stream_app.dashboard import DASHBOARD_FILES

STATIC = resources.files("stream_app").joinpath("static")
OWN_SCRIPTS = {
    name: STATIC.joinpath(name).read_text(encoding="utf-8")
    for name, kind in DASHBOARD_FILES.values()
    if kind == "application/javascript" and not name.startswith("vendor/")
}
SCRIPT = OWN_SCRIPTS["dashboard.js"]
PAGE = STATIC.joinpath("dashboard.html").read_text(encoding="utf-8")
VENDOR = {
    name: STATIC.joinpath(name).read_text(encoding="utf-8")
    for name, kind in DASHBOARD_FILES.values()
    if name.startswith("vendor/") and kind == "application/javascript"
}

HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(|createContextualFragment"
)


def test_every_own_script_is_checked() -> None:
    assert set(OWN_SCRIPTS) == {"dashboard.js", "dashboard-state.js", "dashboard-map.js"}


@pytest.mark.parametrize("name", sorted(OWN_SCRIPTS))
def test_no_html_sink_at_all(name: str) -> None:
    assert HTML_SINKS.findall(OWN_SCRIPTS[name]) == []


@pytest.mark.parametrize(
    "name", ["vendor/d3-array.min.js", "vendor/d3-geo.min.js", "vendor/topojson-client.min.js"]
)
def test_the_map_libraries_have_no_html_sink_either(name: str) -> None:
    assert HTML_SINKS.findall(VENDOR[name]) == []


@pytest.mark.parametrize("name", sorted(OWN_SCRIPTS))
def test_no_inline_event_handlers_or_eval(name: str) -> None:
    assert not re.search(
        r"\beval\(|new Function\(|setTimeout\(\s*[\"'`]|setInterval\(\s*[\"'`]", OWN_SCRIPTS[name]
    )
    assert not re.search(r"\son[a-z]+=", PAGE)


def test_every_page_asset_is_served_and_vendored_with_its_license() -> None:
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', PAGE):
        assert src in DASHBOARD_FILES
    assert not re.search(r'(?:src|href)="(?:https?:)?//', PAGE)  # no CDN
    for name in ("chart.js.LICENSE.md", "d3-array.LICENSE", "d3-geo.LICENSE", "topojson-client.LICENSE",
                 "world-atlas.LICENSE", "i18n-iso-countries.LICENSE"):  # fmt: skip
        assert STATIC.joinpath("vendor", name).is_file()


def test_the_key_is_kept_for_the_tab_and_sent_as_a_bearer_token() -> None:
    scripts = "\n".join(OWN_SCRIPTS.values())
    assert "sessionStorage" in SCRIPT and "localStorage" not in scripts
    assert "Authorization: `Bearer ${key}`" in SCRIPT
    assert 'id="api-key" type="password"' in PAGE
    assert "/api/analytics?" in SCRIPT and "/api/stats" not in scripts


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_pure_helpers_under_node() -> None:
    script = Path(__file__).with_name("dashboard_state.test.js")
    done = subprocess.run(
        [shutil.which("node") or "node", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
