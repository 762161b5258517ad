"""A reader of ``link_click.v3`` bodies specialised to that schema: the worker's hot path.

fastavro's ``schemaless_reader`` walks the schema for every message, about a microsecond per field; this
reads the fields in the schema's order straight into a ``Click``, checking but not keeping the ones
aggregation does not need. It reads only the schema it was written for (``FINGERPRINT``): any other writer
schema, and any body it cannot read to the last byte, goes the general way (``stream_app.decoding``), which
also reports errors. The build compiles it with mypyc where it can (setup.py): keep it plain, typed Python.
tests/unit/stream_app/test_fastclick.py checks it, compiled and as Python, against fastavro on randomised and
damaged clicks.
"""

from __future__ import annotations

from stream_app.aggregation import DEFAULT_RULE, DIRECT, UNKNOWN, Click, dims

FINGERPRINT = bytes.fromhex("222d06216e240e03")
"""The CRC-64-AVRO fingerprint of ``link_click.v3.avsc``, the schema read here."""

LINK_CLICK = 1
"""The index of ``LINK_CLICK`` among the v3 ``EventType`` symbols."""
SYMBOLS = 5
"""How many symbols the v3 ``EventType`` has."""


_new_click = tuple.__new__
"""Builds a ``Click`` from a tuple of all its fields, without the named tuple's keyword handling."""


class NotReadable(Exception):
    """The body is not one this reader reads to the last byte: decode it the general way."""


def _long(b: bytes, p: int) -> tuple[int, int]:
    """A zigzag varint at ``p``: (value, position after it)."""
    byte = b[p]
    p += 1
    n = byte & 0x7F
    shift = 7
    while byte & 0x80:
        byte = b[p]
        p += 1
        n |= (byte & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), p


def _str(b: bytes, p: int) -> tuple[str, int]:
    """A string at ``p``: (value, position after it)."""
    n = b[p]
    if n < 0x80:  # one-byte length (under 64 bytes): most strings
        if n & 1:
            raise NotReadable  # a negative length
        p += 1
        n >>= 1
    else:
        n, p = _long(b, p)
        if n < 0:
            raise NotReadable
    end = p + n
    if end > len(b):
        raise NotReadable
    return b[p:end].decode(), end


def _skip_str(b: bytes, p: int) -> int:
    """A string aggregation does not keep, at ``p``: the position after it. Its UTF-8 is still checked:
    a body fastavro would refuse is not read here either."""
    return _str(b, p)[1]


def _ostr(b: bytes, p: int, missing: str) -> tuple[str, int]:
    """An optional string (a union of null and string) at ``p``; ``missing`` for null."""
    union = b[p]
    if union == 0:
        return missing, p + 1
    if union != 2:
        raise NotReadable
    return _str(b, p + 1)


def _oslug(b: bytes, p: int) -> tuple[str | None, int]:
    """The optional slug: None for null."""
    if b[p] == 0:
        return None, p + 1
    return _ostr(b, p, "")


def _skip_ostr(b: bytes, p: int) -> int:
    union = b[p]
    if union == 0:
        return p + 1
    if union != 2:
        raise NotReadable
    return _skip_str(b, p + 1)


def _skip_double(b: bytes, p: int) -> int:
    union = b[p]
    if union == 0:
        return p + 1
    if union != 2:
        raise NotReadable
    return p + 9


def read(body: bytes, start: int, offset: int) -> Click | None:
    """Return the click in the v3 body at ``body[start:]``, or None for another event type.

    Raises:
        NotReadable: not a body this reader reads (decode it the general way).
    """
    b = body
    try:
        kind = b[start]  # one byte: the enum index is below 64
        if kind & 0x81:
            raise NotReadable  # negative, or not one byte
        kind >>= 1
        p = _skip_str(b, start + 1)  # event_id
        n = b[p]
        if n < 0x80 and not n & 1:
            end = p + 1 + (n >> 1)
            link_id = b[p + 1 : end].decode()
            p = end
        else:
            link_id, p = _str(b, p)
        slug: str | None
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            slug = b[p + 2 : end].decode()
            p = end
        else:
            slug, p = _oslug(b, p)
        n = b[p]
        if n < 0x80 and not n & 1:
            end = p + 1 + (n >> 1)
            account_id = b[p + 1 : end].decode()
            p = end
        else:
            account_id, p = _str(b, p)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            country = b[p + 2 : end].decode()
            p = end
        else:
            country, p = _ostr(b, p, UNKNOWN)
        n = b[p]
        if n < 0x80 and not n & 1:
            end = p + 1 + (n >> 1)
            destination = b[p + 1 : end].decode()
            p = end
        else:
            destination, p = _str(b, p)
        p = _skip_double(b, p)  # latitude
        p = _skip_double(b, p)  # longitude
        byte = b[p]  # the timestamp, a zigzag varint (inlined: one of the hottest lines)
        p += 1
        timestamp = byte & 0x7F
        shift = 7
        while byte & 0x80:
            byte = b[p]
            p += 1
            timestamp |= (byte & 0x7F) << shift
            shift += 7
        timestamp = (timestamp >> 1) ^ -(timestamp & 1)
        p = _skip_ostr(b, p)  # user_agent
        p = _skip_ostr(b, p)  # referer
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            city = b[p + 2 : end].decode()
            p = end
        else:
            city, p = _ostr(b, p, UNKNOWN)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            region = b[p + 2 : end].decode()
            p = end
        else:
            region, p = _ostr(b, p, UNKNOWN)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            continent = b[p + 2 : end].decode()
            p = end
        else:
            continent, p = _ostr(b, p, UNKNOWN)
        is_bot = b[p]
        p += 1
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            device = b[p + 2 : end].decode()
            p = end
        else:
            device, p = _ostr(b, p, UNKNOWN)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            browser = b[p + 2 : end].decode()
            p = end
        else:
            browser, p = _ostr(b, p, UNKNOWN)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            os = b[p + 2 : end].decode()
            p = end
        else:
            os, p = _ostr(b, p, UNKNOWN)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            referer = b[p + 2 : end].decode()
            p = end
        else:
            referer, p = _ostr(b, p, DIRECT)
        n = b[p + 1]
        if b[p] == 2 and n < 0x80 and not n & 1:
            end = p + 2 + (n >> 1)
            rule = b[p + 2 : end].decode()
            p = end
        else:
            rule, p = _ostr(b, p, DEFAULT_RULE)
        p = _skip_ostr(b, p)  # bot_reason
        if b[p] == 0:
            visitor, p = None, p + 1
        elif b[p] == 2:
            visitor, p = _long(b, p + 1)
        else:
            raise NotReadable
    except (IndexError, UnicodeDecodeError) as exc:
        raise NotReadable from exc
    if p != len(b) or is_bot > 1 or not 0 <= kind < SYMBOLS:
        raise NotReadable
    if kind != LINK_CLICK:
        return None
    return _new_click(
        Click,
        (
            offset,
            timestamp,
            link_id,
            account_id,
            dims(
                country=country,
                continent=continent,
                region=region,
                city=city,
                device=device,
                browser=browser,
                os=os,
                referer=referer,
                rule=rule,
                url=destination,
            ),
            is_bot == 1,
            slug,
            visitor,
        ),
    )
