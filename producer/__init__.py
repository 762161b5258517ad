"""The smart-link redirect service: answers ``GET /{slug}`` at once and records the click on Kafka."""

from producer.app import create_app
from producer.links import DEMO_LINK, InMemoryLinkStore, Link, LinkStore
from producer.publisher import ClickPublisher, InMemoryClickPublisher, KafkaClickPublisher
from producer.settings import ProducerSettings

__all__ = [
    "DEMO_LINK",
    "ClickPublisher",
    "InMemoryClickPublisher",
    "InMemoryLinkStore",
    "KafkaClickPublisher",
    "Link",
    "LinkStore",
    "ProducerSettings",
    "create_app",
]
