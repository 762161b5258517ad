"""The shipped schemas, loaded from package data."""

from schemas import link_click_schema, link_click_schemas, load_schema


def test_link_click_versions_are_listed_oldest_first():
    assert link_click_schemas() == [load_schema(f"link_click.v{n}.avsc") for n in (1, 2, 3)]


def test_current_schema_is_the_newest_version():
    assert link_click_schema() == load_schema("link_click.v3.avsc")
    assert link_click_schema()["name"] == "clickpipe.events.LinkClick"


def test_every_field_added_after_v1_has_a_default():
    v1_fields = {field["name"] for field in load_schema("link_click.v1.avsc")["fields"]}
    added = [field for field in link_click_schema()["fields"] if field["name"] not in v1_fields]

    assert {field["name"] for field in added} == {
        "type",
        "event_id",
        "slug",
        "user_agent",
        "referer",
        "city",
        "region",
        "continent",
        "is_bot",
        "device",
        "browser",
        "os",
        "referer_domain",
        "rule",
        "bot_reason",
        "visitor",
    }
    assert all("default" in field for field in added)


def test_loaded_schema_is_cached():
    assert load_schema("link_click.v2.avsc") is load_schema("link_click.v2.avsc")
