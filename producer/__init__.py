"""The smart-link redirect service: answers ``GET /{slug}`` at once and records the click on Kafka."""

from producer.app import create_app
from producer.demo import DEMO_LINK
from producer.links import Account, KeyStore, Link, LinkStore
from producer.memory_store import InMemoryStore
from producer.publisher import ClickPublisher, InMemoryClickPublisher, KafkaClickPublisher
from producer.settings import ProducerSettings

__all__ = [
    "DEMO_LINK",
    "Account",
    "ClickPublisher",
    "InMemoryClickPublisher",
    "InMemoryStore",
    "KafkaClickPublisher",
    "KeyStore",
    "Link",
    "LinkStore",
    "ProducerSettings",
    "create_app",
]
