"""Errors of the operations package (embedded broker, topic admin, orchestration).

Tree::

    ClickpipeError (schemas.errors)
    └── OperationsError          a command could not set up what it runs on
        ├── BrokerStartError     the embedded broker did not start or answer (retriable)
        └── TopicAdminError      topics could not be created or checked (retriable)
"""

from __future__ import annotations

from schemas.errors import ClickpipeError


class OperationsError(ClickpipeError):
    """A command could not set up the infrastructure it runs on."""


class BrokerStartError(OperationsError):
    """The embedded broker did not start or did not answer in time."""

    retriable = True


class TopicAdminError(OperationsError):
    """Topics could not be created or checked on the broker."""

    retriable = True
