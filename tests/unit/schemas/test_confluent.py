"""The Confluent Schema Registry wire format, against a small registry server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clickpipe.broker import free_port
from schemas.codec import LinkClickCodec
from schemas.confluent import (
    SchemaRegistryClient,
    SchemaRegistryError,
    UnknownSchemaIdError,
    link_click_codec,
)
from schemas.errors import MalformedMessageError
from schemas.events import LinkClick
from stream_app.decoding import ClickDecoder


class FakeRegistry(ThreadingHTTPServer):
    """The two registry endpoints clickpipe uses, with request counts."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.schemas: dict[int, str] = {}
        self.types: dict[int, str] = {}  # schemaType of ids that are not Avro
        self.subjects: dict[tuple[str, str], int] = {}
        self.requests = 0


class _Handler(BaseHTTPRequestHandler):
    server: FakeRegistry

    def do_POST(self) -> None:
        self.server.requests += 1
        subject = self.path.split("/")[2]
        schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["schema"]
        schema_id = self.server.subjects.setdefault((subject, schema), len(self.server.schemas) + 100)
        self.server.schemas[schema_id] = schema
        self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        self.server.requests += 1
        schema_id = int(self.path.rsplit("/", 1)[1])
        if schema_id not in self.server.schemas:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})
            return
        answer = {"schema": self.server.schemas[schema_id]}
        if schema_id in self.server.types:
            answer["schemaType"] = self.server.types[schema_id]
        self._reply(200, answer)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def url(server: FakeRegistry) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


CLICK = LinkClick(
    "lnk-1",
    "acc-1",
    "https://example.com/",
    datetime(2026, 1, 1, tzinfo=UTC),
    country="DE",
    slug="s",
    event_id="e",
)


def test_messages_carry_the_registered_schema_id(registry: FakeRegistry) -> None:
    codec = LinkClickCodec(link_click_codec(SchemaRegistryClient(url(registry)), "link-clicks"))
    message = codec.encode(CLICK)
    [(subject, _)] = registry.subjects
    assert subject == "link-clicks-value"
    assert message[:1] == b"\x00"
    assert int.from_bytes(message[1:5], "big") == registry.subjects[subject, registry.schemas[100]] == 100
    assert codec.decode(message) == CLICK


def test_ids_and_schemas_are_cached(registry: FakeRegistry) -> None:
    client = SchemaRegistryClient(url(registry))
    writer = LinkClickCodec(link_click_codec(client, "t"))
    messages = [writer.encode(CLICK) for _ in range(50)]
    reader = LinkClickCodec(link_click_codec(SchemaRegistryClient(url(registry)), "t"))
    before = registry.requests
    assert all(reader.decode(message) == CLICK for message in messages)
    assert registry.requests - before <= 1  # one schema lookup at most, then the cache


def test_the_worker_decodes_both_wire_formats(registry: FakeRegistry) -> None:
    confluent = link_click_codec(SchemaRegistryClient(url(registry)), "t", logical_types=False)
    decoder = ClickDecoder(confluent)
    framed = LinkClickCodec(confluent).encode(CLICK)
    single_object = LinkClickCodec().encode(CLICK)
    for message in (framed, single_object):
        click = decoder.decode(7, message)
        assert click is not None
        assert (click.offset, click.link_id, click.country, click.slug) == (7, "lnk-1", "DE", "s")
        assert click.timestamp_ms == 1_767_225_600_000
    with pytest.raises(MalformedMessageError, match="no schema registry is configured"):
        ClickDecoder().decode(1, framed)


def test_an_unknown_schema_id_is_a_serialization_error(registry: FakeRegistry) -> None:
    codec = link_click_codec(SchemaRegistryClient(url(registry)), "t")
    with pytest.raises(UnknownSchemaIdError, match="no schema id 999"):
        codec.decode(b"\x00" + (999).to_bytes(4, "big") + b"\x02")


def test_an_unreachable_registry_is_a_clear_retriable_error() -> None:
    client = SchemaRegistryClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(SchemaRegistryError, match="not reachable") as info:
        link_click_codec(client, "t")
    assert info.value.retriable
