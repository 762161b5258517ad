"""The OpenAPI document: valid 3.1 JSON that names every parameter the analytics route accepts."""

from __future__ import annotations

import json

from stream_app import analytics, openapi


def test_the_document_is_json_and_openapi_3_1() -> None:
    document = json.loads(json.dumps(openapi.document()))
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["apiKey"]["description"],
    }
    assert set(document["paths"]) == {
        "/api/analytics",
        "/api/stats/links/{link_id}",
        "/api/stats/countries",
        "/api/stats/top-links",
    }
    for path in document["paths"].values():
        responses = path["get"]["responses"]
        assert {"200", "400", "401", "503"} <= set(responses), path
        assert path["get"]["security"] == [{"apiKey": []}]


def test_it_lists_exactly_the_parameters_analytics_accepts() -> None:
    params = openapi.document()["paths"]["/api/analytics"]["get"]["parameters"]
    assert [param["name"] for param in params] == list(analytics.PARAMETERS)
    by_name = {param["name"]: param["schema"] for param in params}
    assert by_name["groupBy"]["enum"] == list(analytics.GROUP_BY)
    assert by_name["bots"]["enum"] == list(analytics.BOTS)
    assert by_name["granularity"]["enum"] == list(analytics.GRANULARITIES)
    for name, default in analytics.DEFAULTS.items():
        assert str(by_name[name]["default"]) == default


def test_every_reference_resolves() -> None:
    document = openapi.document()
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node = document
        for step in ref.removeprefix("#/").split("/"):
            node = node[step]
        assert node, ref
