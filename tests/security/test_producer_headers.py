"""A header section past the bound gets 431 before the rest is read (the real server, uvicorn)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from producer.header_limit import DEFAULT_MAX_HEADER_BYTES
from tests.integration.conftest import StartProducer


def _exchange(url: str, head: bytes, then: bytes = b"", chunk: int = 65_536) -> tuple[bytes, int]:
    """Send ``head`` then ``then`` (a chunk at a time) until the server answers or closes; return what it
    answered and how many bytes of ``then`` it took before."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < len(then):
                sock.sendall(then[sent : sent + chunk])
                sent += chunk
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us: the answer is already there
        answer = b""
        try:
            while part := sock.recv(65_536):
                answer += part
        except ConnectionResetError:
            pass
        return answer, sent


def test_an_oversized_header_section_gets_431_and_is_not_read_whole(start_producer: StartProducer) -> None:
    producer = start_producer()
    huge = b"a" * (64 * 1024 * 1024)  # 64 MiB, as in the attack
    answer, taken = _exchange(producer.url, b"GET /demo HTTP/1.1\r\nHost: x\r\nX-Big: ", huge)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert taken < 16 * 1024 * 1024  # refused long before the end, not after reading it all
    # A large but legal header section is served as before.
    legal = b"GET /demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * (
        DEFAULT_MAX_HEADER_BYTES // 2
    )
    answer, _ = _exchange(producer.url, legal)
    assert answer.startswith(b"HTTP/1.1 302 "), answer[:200]
