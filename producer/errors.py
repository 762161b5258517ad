"""Errors of the redirect service.

Tree::

    ClickpipeError (schemas.errors)
    └── ProducerError            something the redirect service could not do
        ├── LinkExistsError      a link with that slug exists already (answer 409)
        ├── StoreError           the link database failed (retriable: answer 503)
        └── PublishError         the broker refused or could not take events (retriable)
"""

from __future__ import annotations

from schemas.errors import ClickpipeError


class ProducerError(ClickpipeError):
    """Something the redirect service could not do."""


class LinkExistsError(ProducerError):
    """A link with that slug exists already."""


class StoreError(ProducerError):
    """The link database could not be read or written."""

    retriable = True


class PublishError(ProducerError):
    """Events could not be published; retry later, the events are kept."""

    retriable = True
