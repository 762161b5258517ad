"""The redirect service's configuration: environment variables prefixed ``CLICKPIPE_PRODUCER_``."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import CLICKS


class ProducerSettings(BaseSettings):
    """Settings of the redirect service; ``KAFKA_BOOTSTRAP_SERVERS`` is a fallback for the broker."""

    model_config = SettingsConfigDict(
        env_prefix="CLICKPIPE_PRODUCER_", frozen=True, extra="ignore", populate_by_name=True
    )

    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port of the HTTP server.")
    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "bootstrap_servers"
        ),
        description="Kafka bootstrap servers, comma-separated.",
    )
    clicks_topic: str = Field(CLICKS, description="Topic the click events are published to.")
    enable_idempotence: bool = Field(
        False, description="Idempotent producer; turn on for Apache Kafka (the embedded broker lacks it)."
    )
    linger_ms: int = Field(10, ge=0, description="How long the Kafka producer waits to fill a batch.")
    queue_size: int = Field(100_000, ge=1, description="Clicks held in memory before publishing.")
    send_batch_size: int = Field(1_000, ge=1, description="Clicks taken from the queue per send round.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for the link management API; the API is closed while unset."
    )
    demo_link: bool = Field(False, description="Create the demo link (slug 'demo') at start.")
