"""The stream worker's errors.

Tree::

    ClickpipeError (schemas.errors)
    └── WorkerError                 raised on purpose by the stream worker
        └── AuthError               a stats request could not be given an account scope
            ├── InvalidKeyError     no key, or a key the producer does not know: answer 401
            └── AuthUnavailableError  the producer's account API did not answer: answer 503 (retriable)
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


class AuthUnavailableError(AuthError):
    """The account service could not say whether the key is valid. Catch it to answer 503; retry later."""

    retriable = True

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        """The account service's HTTP status, when it answered at all."""
