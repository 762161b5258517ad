"""The dashboard's script, read as text: no HTML sink, and the API key goes where it should."""

import re
from importlib import resources

SCRIPT = resources.files("stream_app").joinpath("static", "dashboard.js").read_text(encoding="utf-8")
PAGE = resources.files("stream_app").joinpath("static", "dashboard.html").read_text(encoding="utf-8")

HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(|createContextualFragment"
)


def test_no_html_sink_at_all() -> None:
    assert HTML_SINKS.findall(SCRIPT) == []


def test_no_inline_event_handlers_or_eval() -> None:
    assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*[\"'`]|setInterval\(\s*[\"'`]", SCRIPT)
    assert not re.search(r"\son[a-z]+=", PAGE)


def test_the_key_is_kept_for_the_tab_and_sent_as_a_bearer_token() -> None:
    assert "sessionStorage" in SCRIPT and "localStorage" not in SCRIPT
    assert "Authorization: `Bearer ${key}`" in SCRIPT
    assert 'id="api-key" type="password"' in PAGE
