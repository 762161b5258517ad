"""A bound on a request's header section, for uvicorn's httptools protocol, which has none of its own.

Without it uvicorn reads a header of any size whole (64 MiB: +130 MB of memory for one request; 200 MiB: a
minute of CPU, httptools joining the pieces). With it, a connection whose request line and headers pass
``max_bytes`` before they end gets ``431 Request Header Fields Too Large`` and is closed, before more is read.
Granian (hyper) bounds its read buffer on its own (``http1_settings.max_buffer_size``, 408 KiB by default).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEADER_BYTES = 65_536

_REASON = b"request header section too large"


class BoundedHeaders(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header section of each request bounded to ``max_bytes``."""

    def __init__(self, *args: Any, max_bytes: int = DEFAULT_MAX_HEADER_BYTES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes
        self._in_head = True  # between requests, or in one's request line and headers
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_bytes and not self.transport.is_closing():
            self._refuse()

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _refuse(self) -> None:
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(_REASON)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _REASON
        )
        self.transport.close()


def bounded_headers(max_bytes: int) -> type[BoundedHeaders]:
    """What to give uvicorn (``http=``) for a bound of ``max_bytes``: a factory of the protocol that pickles
    (uvicorn hands its configuration to the processes of ``--workers``)."""
    return partial(BoundedHeaders, max_bytes=max_bytes)  # type: ignore[return-value]  # called like the class
