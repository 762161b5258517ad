"""The specialised v3 reader against fastavro: the same ``Click`` for every message, or the general way.

Each test runs on the module as imported (compiled by mypyc when the build had a C compiler, see setup.py)
and on its Python source, which runs where no compiler was.
"""

from __future__ import annotations

import importlib.util
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from schemas.avro_schemas import link_click_schema
from schemas.codec import HEADER_SIZE, LinkClickCodec, schema_fingerprint
from schemas.errors import SerializationError
from schemas.events import EventType, LinkClick
from stream_app import fastclick
from stream_app.decoding import ClickDecoder

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _source() -> ModuleType:
    """``stream_app/fastclick.py`` run as Python, whether or not a compiled module sits beside it."""
    path = Path(fastclick.__file__ or "").with_name("fastclick.py")
    spec = importlib.util.spec_from_file_location("fastclick_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["imported", "source"])
def reader(request: pytest.FixtureRequest) -> ModuleType:
    return fastclick if request.param == "imported" else _source()


def _slow(offset: int, value: bytes) -> object:
    """What the general (fastavro) path decodes."""
    return ClickDecoder(fast=False).decode(offset, value)


def test_it_reads_the_current_schema() -> None:
    assert schema_fingerprint(link_click_schema()) == fastclick.FINGERPRINT


def _maybe(rng: random.Random, value: str) -> str | None:
    return None if rng.random() < 0.3 else value


def random_event(rng: random.Random) -> LinkClick:
    text = "".join(rng.choice("abcé中😀/-.") for _ in range(rng.choice([0, 1, 5, 63, 64, 200])))
    return LinkClick(
        link_id=f"l{rng.randrange(10**6)}",
        account_id=rng.choice(["", "acct", text]),
        destination=rng.choice(["", "https://x/", f"https://x/{text}"]),
        timestamp=AT + timedelta(milliseconds=rng.randrange(-(10**12), 10**12)),
        type=rng.choice(list(EventType)),
        country=_maybe(rng, "DE"),
        latitude=None if rng.random() < 0.5 else rng.uniform(-90, 90),
        longitude=None if rng.random() < 0.5 else rng.uniform(-180, 180),
        slug=_maybe(rng, text),
        user_agent=_maybe(rng, text),
        referer=_maybe(rng, text),
        city=_maybe(rng, text),
        region=_maybe(rng, "BE"),
        continent=_maybe(rng, "EU"),
        is_bot=rng.random() < 0.5,
        device=_maybe(rng, "mobile"),
        browser=_maybe(rng, text),
        os=_maybe(rng, "iOS"),
        referer_domain=_maybe(rng, text),
        rule=_maybe(rng, "DE"),
        bot_reason=_maybe(rng, text),
        visitor=None if rng.random() < 0.3 else rng.randrange(-(2**63), 2**63),
    )


def test_it_reads_what_fastavro_reads(reader: ModuleType) -> None:
    rng = random.Random(4)
    codec = LinkClickCodec()
    for offset in range(3_000):
        value = codec.encode(random_event(rng))
        assert reader.read(value, HEADER_SIZE, offset) == _slow(offset, value)


def test_damaged_bodies_are_read_as_fastavro_reads_them_or_handed_over(reader: ModuleType) -> None:
    """Hostile bytes: bytes flipped, cut, inserted. The reader either returns what fastavro returns, or
    raises ``NotReadable`` (the general way then decodes it or dead-letters it); never anything else."""
    rng = random.Random(7)
    codec = LinkClickCodec()
    read = 0
    for offset in range(3_000):
        value = bytearray(codec.encode(random_event(rng)))
        for _ in range(rng.randint(1, 3)):
            if len(value) <= HEADER_SIZE:
                break
            at = rng.randrange(HEADER_SIZE, len(value))
            action = rng.randrange(3)
            if action == 0:
                value[at] = rng.randrange(256)
            elif action == 1:
                del value[at:]
            else:
                value[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        body = bytes(value)
        try:
            got = reader.read(body, HEADER_SIZE, offset)
        except reader.NotReadable:
            continue
        read += 1
        assert got == _slow(offset, body)
    assert read > 100  # some damage still decodes (a changed letter): those were compared


@pytest.mark.parametrize("cut", [1, 5, 30])
def test_a_broken_body_goes_the_general_way(cut: int, reader: ModuleType) -> None:
    value = LinkClickCodec().encode(random_event(random.Random(cut)))
    bad_type = value[:HEADER_SIZE] + b"\x0c" + value[HEADER_SIZE + 1 :]  # symbol 6 of 5
    for broken in (value[:-cut], value + b"\x00" * cut, bad_type):
        with pytest.raises(reader.NotReadable):
            reader.read(broken, HEADER_SIZE, 0)
    with pytest.raises(SerializationError):
        ClickDecoder().decode(0, value[:-cut])
