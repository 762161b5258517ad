"""The stream worker's configuration: environment variables prefixed ``CLICKPIPE_WORKER_``.

Faust reads unprefixed variables (``BROKER_URL``, ``WEB_PORT``, ...) that would silently override code; the
app is built with an empty Faust environment, so only these settings configure it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import CLICKS, CLICKS_DLQ, DEFAULT_PARTITIONS


class WorkerSettings(BaseSettings):
    """Settings of the stream worker; ``KAFKA_BOOTSTRAP_SERVERS`` is a fallback for the broker."""

    model_config = SettingsConfigDict(
        env_prefix="CLICKPIPE_WORKER_", frozen=True, extra="ignore", populate_by_name=True
    )

    app_id: str = Field("clickpipe-worker", description="Faust app id: consumer group and table prefix.")
    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "CLICKPIPE_WORKER_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "bootstrap_servers"
        ),
        description="Kafka bootstrap servers, comma-separated.",
    )
    web_host: str = Field("127.0.0.1", description="Address the worker's HTTP API binds.")
    web_port: int = Field(6066, ge=0, le=65535, description="Port of the worker's HTTP API.")
    data_dir: Path = Field(Path("data/worker"), description="Local table state (RocksDB) lives here.")
    store: str = Field("rocksdb://", description="Faust table store: rocksdb:// (default) or memory://.")
    partitions: int = Field(DEFAULT_PARTITIONS, ge=1, description="Partitions of the click topic.")
    clicks_topic: str = Field(CLICKS, description="Topic the clicks are read from.")
    dlq_topic: str = Field(CLICKS_DLQ, description="Topic undecodable messages are moved to.")
    session_timeout: float = Field(10.0, gt=0, description="Consumer group session timeout, seconds.")
    heartbeat_interval: float = Field(1.0, gt=0, description="Consumer group heartbeat, seconds.")
    rebalance_timeout: float = Field(10.0, gt=0, description="Consumer group rebalance timeout, seconds.")
    recovery_consistency_check: bool = Field(
        True, description="Check changelog offsets on recovery; off for the embedded broker only."
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="exactly_once needs transactions (Apache Kafka, not the embedded broker).",
    )
    log_level: str = Field("info", description="Worker log level.")
