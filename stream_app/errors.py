"""The stream worker's errors.

Tree::

    ClickpipeError (schemas.errors)
    └── WorkerError                 raised on purpose by the stream worker
        ├── AuthError               a stats request could not be given an account scope
        │   ├── InvalidKeyError     no key, or a key the producer does not know: answer 401
        │   │   └── PeerRejectedError  a request signed as another worker's failed the check: answer 401
        │   └── AuthUnavailableError  the producer's account API did not answer: answer 503 (retriable)
        ├── BadQueryError           a stats query parameter is missing or wrong: answer 400
        └── PeersUnavailableError   the other workers' parts could not be had, or not trusted: answer 503

Callers decide by type and by fields (``parameter``, ``status``), never by an error's text.
"""

from __future__ import annotations

from schemas.errors import ClickpipeError


class WorkerError(ClickpipeError):
    """Root of the stream worker's errors."""


class AuthError(WorkerError):
    """A stats request could not be given an account scope; ``reason`` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidKeyError(AuthError):
    """The request has no API key, or one that no account has. Catch it to answer 401."""


class PeerRejectedError(InvalidKeyError):
    """A request carrying a peer token (``stream_app.peers``) is not from a worker of this cluster, not for
    this worker or request, expired or replayed. Catch it to answer 401; ``reason`` is safe to show."""


class AuthUnavailableError(AuthError):
    """The account service could not say whether the key is valid. Catch it to answer 503; retry later."""

    retriable = True

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        """The account service's HTTP status, when it answered at all."""


class BadQueryError(WorkerError):
    """A stats query parameter is missing or wrong. Catch it to answer 400; ``reason`` is safe to show.

    ``parameter`` names the parameter at fault (``from``, ``to``, ``granularity``, ``limit``), or ``range``
    when the parameters are each valid but do not fit together.
    """

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(reason)
        self.parameter = parameter
        self.reason = reason


class PeersUnavailableError(WorkerError):
    """The other workers' parts of an answer could not be gathered, or one was not signed with the cluster
    secret, so the answer would not be whole. Catch it to answer 503; ``reason`` is safe to show."""

    def __init__(self, reason: str, *, retriable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable
        """False when retrying cannot help (no cluster secret is configured)."""
