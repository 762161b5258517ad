"""The integration fixtures live in the ``tests.fixtures`` plugin; their types are re-exported here."""

from tests.fixtures import (
    API_KEY,
    BROWSER,
    OPERATOR,
    OPERATOR_KEY,
    Broker,
    OwnBroker,
    Service,
    Services,
    StartProducer,
    StartWorker,
    Topics,
    get_stats,
)

__all__ = [
    "API_KEY",
    "BROWSER",
    "OPERATOR",
    "OPERATOR_KEY",
    "Broker",
    "OwnBroker",
    "Service",
    "Services",
    "StartProducer",
    "StartWorker",
    "Topics",
    "get_stats",
]
