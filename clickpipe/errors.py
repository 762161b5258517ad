"""Errors of the operations package (embedded broker, topic admin, orchestration).

Tree::

    ClickpipeError (schemas.errors)
    └── OperationsError          a command could not set up what it runs on
        ├── BrokerStartError     a broker (embedded or Kafka) did not start or answer (retriable)
        ├── KafkaSetupError      Java or Kafka's jars are missing (the message says how to get them)
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


class KafkaSetupError(OperationsError):
    """Apache Kafka cannot run here: Java or Kafka's jars are missing, or Maven could not fetch them.

    The message says what to install or set.
    """
