"""clickpipe's operations: the command line, the embedded broker, topic admin and ``clickpipe up``."""

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker
from clickpipe.errors import BrokerStartError, OperationsError, TopicAdminError

__all__ = ["BrokerStartError", "EmbeddedBroker", "OperationsError", "TopicAdminError", "ensure_topics"]
