"""The other workers of the group, asked over HTTP for their parts of an answer, with signed requests.

Peers are found in Faust's table router (the URLs the consumer group's members advertise), kept to the
operator's ``PEERS`` when set. Each request carries a peer token for the caller's verified scope, bound to
the one worker it goes to (``stream_app.peers``); the caller's ``Authorization`` header never leaves the
worker. An answer whose signature does not verify makes the whole answer fail: a member without the cluster
secret can neither read a key nor skew a count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import faust

from stream_app.errors import PeersUnavailableError
from stream_app.peers import ANSWER_HEADER, PEER_HEADER, ClusterKey, base_url

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""Largest part read from another worker."""

UNCONFIGURED = (
    "this worker does not own every partition and has no cluster secret to ask the other workers for "
    "theirs: set CLICKPIPE_WORKER_CLUSTER_SECRET (the same on every worker)"
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class WorkerPeers:
    """The other workers of ``app``'s group, found in Faust's table router.

    Args:
        app: the Faust app.
        own_url: this worker's advertised URL (not asked).
        key: the cluster key; None: no worker is asked (``gather`` refuses).
        allowed: the only URLs that may be asked (``PEERS``); None: every member of the group.
    """

    def __init__(
        self,
        app: faust.App,
        own_url: str,
        key: ClusterKey | None,
        allowed: Iterable[str] | None = None,
        *,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._app = app
        self._own = base_url(own_url)
        self._key = key
        self._allowed = None if allowed is None else {base_url(url) for url in allowed}
        self._clock = clock

    def urls(self) -> list[str]:
        """The other members' advertised URLs."""
        return sorted({base_url(str(url)) for url in self._app.router.tables_metadata()} - {self._own})

    async def gather(self, path: str, params: dict[str, str], account_id: str | None) -> list[dict[str, Any]]:
        """Ask every other worker for its local answer to ``GET path?params`` in the scope ``account_id``.

        Raises:
            PeersUnavailableError: no cluster secret, a member not in ``PEERS``, a worker that did not
                answer, or an answer not signed with the cluster secret.
        """
        urls = self.urls()
        if not urls:
            return []
        key = self._key
        if key is None:
            raise PeersUnavailableError(UNCONFIGURED, retriable=False)
        strangers = [url for url in urls if self._allowed is not None and url not in self._allowed]
        if strangers:
            log.warning("consumer group members not in CLICKPIPE_WORKER_PEERS, not asked: %s", strangers)
            raise PeersUnavailableError(
                "a member of the consumer group is not in CLICKPIPE_WORKER_PEERS (see the worker's log)"
            )
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def fetch(url: str) -> dict[str, Any]:
                token, nonce = key.token(
                    account_id,
                    target=url,
                    method="GET",
                    path=path,
                    query=params.items(),
                    now_ms=self._clock(),
                )
                async with session.get(
                    url + path, params=params, headers={PEER_HEADER: token}, allow_redirects=False
                ) as response:
                    if response.status != 200:
                        raise PeersUnavailableError(f"another worker answered {response.status}")
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > MAX_ANSWER_BYTES:
                            raise PeersUnavailableError("another worker's answer is too large")
                    if not key.sealed(nonce, url, bytes(body), response.headers.get(ANSWER_HEADER)):
                        log.warning("an answer from %s is not signed with the cluster secret: dropped", url)
                        raise PeersUnavailableError(
                            "another worker's answer is not signed with the cluster secret (see the "
                            "worker's log)"
                        )
                    answer: dict[str, Any] = json.loads(body)
                    return answer

            try:
                return list(await asyncio.gather(*(fetch(url) for url in urls)))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise PeersUnavailableError(f"another worker did not answer: {type(exc).__name__}") from exc
