"""Errors of the redirect service.

Tree::

    ClickpipeError (schemas.errors)
    └── ProducerError            something the redirect service could not do
        ├── LinkExistsError      a link with that slug exists already (answer 409)
        ├── StoreError           the link database failed (retriable: answer 503)
        ├── SpoolError           the spool's directory could not be read or written
        ├── PublishError         the broker refused or could not take events (retriable)
        └── SettingsError        a setting's file could not be read, or holds no valid value
"""

from __future__ import annotations

from schemas.errors import ClickpipeError


class ProducerError(ClickpipeError):
    """Something the redirect service could not do."""


class LinkExistsError(ProducerError):
    """A link with that slug exists already, or the slug stays reserved to another account. Catch it to
    answer 409 (or to draw another generated slug).

    Attributes:
        slug: the slug that is taken.
    """

    def __init__(self, slug: str) -> None:
        super().__init__(f"slug {slug!r} is taken")
        self.slug = slug


class StoreError(ProducerError):
    """The link database could not be read or written."""

    retriable = True


class SpoolError(ProducerError):
    """The spool's directory could not be read or written (disk full, read-only, not a directory).

    Records whose ``append`` raised this are not in the spool; the publisher counts them as dropped.
    """


class PublishError(ProducerError):
    """Events could not be published; retry later, the events are kept."""

    retriable = True


class SettingsError(ProducerError):
    """A setting read from a file (``DATABASE_URL_FILE``) could not be read or is invalid; catch it to tell
    the operator which file. The message never holds the value (it may be a secret)."""
