"""The analytics HTTP API on the worker's web server.

``GET /api/analytics`` (docs/analytics.md; parameters in ``analytics``, answers in ``evaluate``), the
older ``GET /api/stats/links/{link_id}``, ``/api/stats/countries``, ``/api/stats/top-links``, each with
``from`` and ``to`` (ISO 8601) and ``granularity``, and ``GET /api/openapi.json`` describing them. A
worker answers for the partitions it owns and gathers the other workers' answers (``scope=local`` asks for
one worker's own part), so any worker answers whole.

Every route but the OpenAPI document needs ``Authorization: Bearer <API key>``: the answer holds only that
key's account's links (every account's for the operator key). Other workers never see that header: they get
the verified scope in a peer token signed with the cluster secret (``stream_app.peers``), bound to them and
to the request, and sign their parts back, so no parameter can widen what a caller sees.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
from faust.web import Request, Response, View

from stream_app import analytics, evaluate, openapi, query
from stream_app.aggregation import Row
from stream_app.auth import Authenticator, Scope
from stream_app.engine import PartitionEngine
from stream_app.errors import AuthUnavailableError, BadQueryError, InvalidKeyError, PeersUnavailableError
from stream_app.peers import ANSWER_HEADER, PEER_HEADER, PeerClaim, PeerGate
from stream_app.windows import Granularity

MAX_WINDOWS = 50_000
"""Most windows one query may span, so a typo in a range cannot stall the worker."""

EARLIEST_MS = 0
LATEST_MS = int(datetime(9000, 1, 1, tzinfo=UTC).timestamp() * 1000)
"""Query times outside [1970, 9000] are refused: window bounds near years 1 and 9999 do not render."""


@dataclass(frozen=True, slots=True)
class Range:
    """A validated query range."""

    granularity: str
    from_ms: int
    to_ms: int


def parse_time(name: str, value: str | None) -> int:
    """Return epoch milliseconds of an ISO 8601 time (UTC when no offset is given)."""
    if not value:
        raise BadQueryError(name, f"'{name}' is required (ISO 8601, e.g. 2026-11-28T10:00:00Z)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError) as exc:  # not ISO 8601, or out of datetime's range with its offset
        raise BadQueryError(name, f"'{name}' is not an ISO 8601 time in range: {value[:64]!r}") from exc
    if not EARLIEST_MS <= ms <= LATEST_MS:
        raise BadQueryError(name, f"'{name}' must be between {_iso(EARLIEST_MS)} and {_iso(LATEST_MS)}")
    return ms


def parse_range(params: dict[str, str], sizes: dict[str, int]) -> Range:
    """Validate ``from``, ``to`` and ``granularity`` against the configured window sizes (ms)."""
    granularity = params.get("granularity", "minute")
    if granularity not in sizes:
        raise BadQueryError(
            "granularity", f"'granularity' must be one of {', '.join(sizes)}, not {granularity!r}"
        )
    from_ms = parse_time("from", params.get("from"))
    to_ms = parse_time("to", params.get("to"))
    if to_ms <= from_ms:
        raise BadQueryError("range", "'to' must be after 'from'")
    if (to_ms - from_ms) // sizes[granularity] > MAX_WINDOWS:
        raise BadQueryError("range", f"the range spans more than {MAX_WINDOWS} {granularity} windows")
    return Range(granularity, from_ms, to_ms)


def parse_limit(params: dict[str, str]) -> int:
    """Validate ``limit`` (1..1000, default 10)."""
    raw = params.get("limit", "10")
    # isdigit() alone accepts "²" and other Unicode digits that int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= 1000:
        raise BadQueryError("limit", f"'limit' must be an integer from 1 to 1000, not {raw[:16]!r}")
    return int(raw)


class RowSource(Protocol):
    """The partitions a worker owns (``stream_app.state.Partitions``)."""

    @property
    def granularities(self) -> tuple[Granularity, ...]:
        """The configured windows."""
        ...

    def engines(self) -> Iterator[tuple[int, PartitionEngine]]:
        """Yield (partition, engine) for the owned partitions."""
        ...

    def owned(self) -> list[int]:
        """The source partitions this worker answers for now (none while it recovers)."""
        ...


class Peers(Protocol):
    """The other workers of the group, asked for their own part of an answer (``cluster.WorkerPeers``)."""

    async def gather(self, path: str, params: dict[str, str], account_id: str | None) -> list[dict[str, Any]]:
        """Return every other worker's answer to ``GET path?params`` in the scope ``account_id``.

        Raises:
            PeersUnavailableError: one did not answer, or its answer could not be trusted.
        """
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a request is answered for: its scope, and the peer claim when another worker asks."""

    scope: Scope
    peer: PeerClaim | None = None


FORWARDED = ("from", "to", "granularity", "limit")
"""The only parameters of ``/api/stats/*`` passed on to other workers (with ``scope=local``); the analytics
route passes on its validated plan (``analytics.Plan.forwarded``: every parameter of ``analytics.PARAMETERS``,
with an interval pinned to its start and end)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def register_views(
    app: faust.App,
    partitions: RowSource,
    auth: Authenticator,
    peers: Peers,
    *,
    partition_count: int,
    gate: PeerGate | None = None,
    clock: Callable[[], int] = _now_ms,
) -> None:
    """Add the analytics routes to ``app``'s web server.

    An answer is whole or not given: each worker's part names the partitions it answered for, and unless
    the parts cover each of the click topic's ``partition_count`` partitions exactly once (not so while
    partitions move between workers or are recovered) the caller gets a 503 to try again, never a part.
    ``gate`` admits other workers' signed requests (none without it).
    """
    gate = gate or PeerGate(None, "")
    sizes = {gran.name: gran.size_ms for gran in partitions.granularities}

    def rows(span: Range, scope: Scope) -> Iterator[tuple[int, int, bool, Row]]:
        size = sizes[span.granularity]

        def every() -> Iterator[tuple[int, int, bool, Row]]:
            for _, engine in partitions.engines():
                for start, row in list(engine.windows(span.granularity, span.from_ms - size + 1, span.to_ms)):
                    yield start, start + size, engine.is_closed(span.granularity, start), row

        return query.visible(every(), scope.account_id)

    def source_rows(plan: analytics.Plan, scope: Scope) -> Iterator[tuple[int, Row]]:
        """(window start, row) of the plan's windows in the caller's scope, from every owned partition."""

        def every() -> Iterator[tuple[int, int, bool, Row]]:
            gran = plan.source.granularity
            for _, engine in partitions.engines():
                for start, row in list(engine.windows(gran, plan.start_ms, plan.end_ms)):
                    yield start, start, False, row

        return ((start, row) for start, _, _, row in query.visible(every(), scope.account_id))

    async def authorize(view: View, request: Request) -> Caller | Response:
        """The caller (a key's scope, or another worker's verified claim), or the 401/503 to answer."""
        try:
            token = request.headers.get(PEER_HEADER)
            if token is not None:
                claim = gate.admit(token, request.method, request.url.path, request.query.items(), clock())
                return Caller(Scope(claim.account_id), claim)
            return Caller(await auth.scope(request.headers.get("Authorization")))
        except InvalidKeyError as exc:
            return view.json({"error": exc.reason}, status=401, headers={"WWW-Authenticate": "Bearer"})
        except AuthUnavailableError as exc:
            return view.json({"error": exc.reason}, status=503, headers={"Retry-After": "1"})

    def local(view: View, caller: Caller, mine: dict[str, Any]) -> Response:
        """This worker's part; signed for the worker that asked."""
        if caller.peer is None:
            return view.json(mine)
        body = json.dumps(mine, separators=(",", ":")).encode()
        signature = gate.seal(caller.peer, body)
        return view.bytes(body, content_type="application/json", headers={ANSWER_HEADER: signature})

    async def whole(
        view: View, request: Request, caller: Caller, mine: dict[str, Any], forwarded: dict[str, str]
    ) -> list[dict[str, Any]] | Response:
        """Every worker's part (``mine`` first), or the 503 to answer unless they cover each partition."""
        if not query.uncovered([mine["partitions"]], partition_count):
            return [mine]  # this worker owns them all: no other is asked
        try:
            others = await peers.gather(
                request.url.path, {**forwarded, "scope": "local"}, caller.scope.account_id
            )
        except PeersUnavailableError as exc:
            retry = {"Retry-After": "1"} if exc.retriable else None
            return view.json({"error": exc.reason}, status=503, headers=retry)
        answers = [mine, *others]
        uncovered = query.uncovered([part.get("partitions", []) for part in answers], partition_count)
        if uncovered:
            return view.json(
                {
                    "error": "partitions are moving between workers or being recovered; try again",
                    "partitions": uncovered,
                },
                status=503,
                headers={"Retry-After": "1"},
            )
        return answers

    async def answer(
        view: View,
        request: Request,
        part: Callable[[dict[str, str], Scope], dict[str, Any]],
        merge: Callable[[list[dict[str, Any]]], dict[str, Any]],
    ) -> Response:
        caller = await authorize(view, request)
        if not isinstance(caller, Caller):
            return caller
        params = dict(request.query)
        try:
            mine = {**part(params, caller.scope), "partitions": partitions.owned()}
        except BadQueryError as exc:
            return view.json({"error": exc.reason, "parameter": exc.parameter}, status=400)
        if params.get("scope") == "local":
            return local(view, caller, mine)
        forwarded = {name: params[name] for name in FORWARDED if name in params}
        answers = await whole(view, request, caller, mine, forwarded)
        if not isinstance(answers, list):
            return answers
        return view.json(_present(merge(answers)))

    @app.page("/api/analytics")
    class Analytics(View):
        """Clicks and unique visitors in Dub's shape (docs/analytics.md)."""

        async def get(self, request: Request) -> Response:
            caller = await authorize(self, request)
            if not isinstance(caller, Caller):
                return caller
            try:
                plan = analytics.parse(request.query.items(), partitions.granularities, clock())
                part = evaluate.local_part(plan, source_rows(plan, caller.scope))
            except BadQueryError as exc:
                return self.json({"error": exc.reason, "parameter": exc.parameter}, status=400)
            mine = {"part": part, "partitions": partitions.owned()}
            if request.query.get("scope") == "local":
                return local(self, caller, mine)
            answers = await whole(self, request, caller, mine, plan.forwarded())
            if not isinstance(answers, list):
                return answers
            return self.json(evaluate.merge(plan, [answer["part"] for answer in answers]))

    @app.page("/api/openapi.json")
    class OpenApi(View):
        """The API's OpenAPI 3.1 document (no key needed: it holds no counts)."""

        async def get(self, request: Request) -> Response:
            return self.json(openapi.document())

    @app.page("/api/stats/links/{link_id}")
    class LinkStats(View):
        """A link's clicks per window over a range, with the country breakdown."""

        async def get(self, request: Request, link_id: str) -> Response:
            def part(params: dict[str, str], scope: Scope) -> dict[str, Any]:
                span = parse_range(params, sizes)
                series = query.link_series(rows(span, scope), link_id)
                return {**_describe(span), "link_id": link_id, **series}

            def merge(answers: list[dict[str, Any]]) -> dict[str, Any]:
                return {**_strip(answers[0]), **query.merge_link_series(answers)}

            return await answer(self, request, part, merge)

    @app.page("/api/stats/countries")
    class CountryStats(View):
        """Clicks by country over a range."""

        async def get(self, request: Request) -> Response:
            def part(params: dict[str, str], scope: Scope) -> dict[str, Any]:
                span = parse_range(params, sizes)
                return {**_describe(span), **query.countries(rows(span, scope))}

            def merge(answers: list[dict[str, Any]]) -> dict[str, Any]:
                return {**_strip(answers[0]), **query.merge_countries(answers)}

            return await answer(self, request, part, merge)

    @app.page("/api/stats/top-links")
    class TopLinks(View):
        """The most clicked links over a range."""

        async def get(self, request: Request) -> Response:
            def part(params: dict[str, str], scope: Scope) -> dict[str, Any]:
                span = parse_range(params, sizes)
                limit = parse_limit(params)
                return {**_describe(span), "limit": limit, **query.top_links(rows(span, scope), limit)}

            def merge(answers: list[dict[str, Any]]) -> dict[str, Any]:
                limit = int(answers[0]["limit"])
                return {**_strip(answers[0]), **query.merge_top_links(answers, limit)}

            return await answer(self, request, part, merge)


def _describe(span: Range) -> dict[str, Any]:
    return {
        "granularity": span.granularity,
        "from": _iso(span.from_ms),
        "to": _iso(span.to_ms),
    }


def _present(answer: dict[str, Any]) -> dict[str, Any]:
    """Render window bounds as ISO 8601 times in a final answer."""
    for point in answer.get("series", ()):
        point["window_start"] = _iso(point["window_start"])
        point["window_end"] = _iso(point["window_end"])
    return answer


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _strip(answer: dict[str, Any]) -> dict[str, Any]:
    """The request description part of an answer (without the counts)."""
    return {key: answer[key] for key in ("granularity", "from", "to", "link_id", "limit") if key in answer}
