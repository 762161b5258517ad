"""clickpipe's operations: the command line, the embedded broker, topic admin and ``clickpipe up``."""

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker
from clickpipe.errors import (
    BrokerStartError,
    LoadgenError,
    OperationsError,
    PortInUseError,
    ServiceError,
    ServiceExitedError,
    ServiceNotReadyError,
    TopicAdminError,
    UnknownAccountError,
)
from clickpipe.up import ExternalBroker, PipelineBroker, Up, UpOptions

__all__ = [
    "BrokerStartError",
    "EmbeddedBroker",
    "ExternalBroker",
    "LoadgenError",
    "OperationsError",
    "PipelineBroker",
    "PortInUseError",
    "ServiceError",
    "ServiceExitedError",
    "ServiceNotReadyError",
    "TopicAdminError",
    "UnknownAccountError",
    "Up",
    "UpOptions",
    "ensure_topics",
]
