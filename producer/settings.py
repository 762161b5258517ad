"""The redirect service's configuration: environment variables prefixed ``CLICKPIPE_PRODUCER_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from producer.errors import SettingsError
from producer.geo import parse_networks
from producer.header_limit import DEFAULT_MAX_HEADER_BYTES
from schemas.topics import CLICKS


def check_database_url(url: str) -> None:
    """Raise ValueError when ``url`` is no PostgreSQL URL; the message never quotes it (a password)."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("the database URL must start with postgresql://")


class ProducerSettings(BaseSettings):
    """Settings of the redirect service; ``KAFKA_BOOTSTRAP_SERVERS`` is a fallback for the broker."""

    model_config = SettingsConfigDict(
        env_prefix="CLICKPIPE_PRODUCER_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a rejected value may be a secret (the database URL's password)
    )

    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port of the HTTP server.")
    server: Literal["uvicorn", "granian"] = Field(
        "uvicorn",
        description="The ASGI server: uvicorn, or granian (the extra clickpipe[granian]); bench.redirect "
        "measured them level on req/s with uvicorn's p99 lower, see bench/README.md.",
    )
    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "bootstrap_servers"
        ),
        description="Kafka bootstrap servers, comma-separated.",
    )
    clicks_topic: str = Field(CLICKS, description="Topic the click events are published to.")
    schema_registry_url: str | None = Field(
        None,
        description="Write clicks in the Confluent Schema Registry format, registering the schema here; "
        "unset: Avro single-object encoding, no registry needed.",
    )
    data_dir: Path = Field(Path("data/producer"), description="Link database and click spool live here.")
    database: Path | None = Field(None, description="SQLite link database (default DATA_DIR/links.db).")
    database_url: SecretStr | None = Field(
        None,
        description="Keep accounts, keys and links in PostgreSQL (postgresql://user:pass@host:5432/db), "
        "shared by every producer on it; unset: the SQLite file DATABASE.",
    )
    database_url_file: Path | None = Field(
        None,
        description="A file holding DATABASE_URL (a Docker secret, /run/secrets/...), instead of the "
        "variable itself.",
    )
    publish: bool = Field(True, description="Record clicks on Kafka; false only to benchmark the redirect.")
    enable_idempotence: Literal["auto"] | bool = Field(
        "auto",
        description="Idempotent producer (no duplicates from retries): auto asks the broker, so it is on for "
        "Apache Kafka and off for the embedded broker, which lacks it.",
    )
    linger_ms: int = Field(10, ge=0, description="How long the Kafka producer waits to fill a batch.")
    request_timeout_ms: int = Field(
        30_000,
        ge=100,
        description="How long a send may wait for the broker before clicks go to the spool. Longer than a "
        "leader election (a broker lost: ~10 s), so the idempotent producer's own retries carry a failover "
        "and no click of unknown outcome is spooled and sent twice.",
    )
    queue_size: int = Field(100_000, ge=1, description="Clicks held in memory before the spool takes them.")
    send_batch_size: int = Field(2_000, ge=1, description="Clicks taken from the queue per send round.")
    send_slice_size: int = Field(
        128, ge=1, description="Clicks built and encoded at a time; the sender yields between slices."
    )
    sender_thread: bool = Field(
        True,
        description="Run the sender (event building, encoding, the Kafka producer) on a thread with an "
        "event loop of its own instead of the requests' loop.",
    )
    spool_fsync: Literal["always", "interval", "never"] = Field(
        "always", description="When the on-disk spool is fsynced: each append, at most each second, or never."
    )
    spool_max_bytes: int = Field(
        1024**3,
        ge=1024**2,
        description="Cap on the spool's size on disk. Past it, clicks that would be spooled are dropped "
        "(counted in clickpipe_producer_clicks_dropped_total): the only way a click is dropped.",
    )
    spool_ready_max_bytes: int = Field(
        768 * 1024**2,
        ge=0,
        description="/readyz answers 503 while the spool holds more bytes than this (at most "
        "SPOOL_MAX_BYTES), so a load balancer can turn away before clicks are dropped.",
    )
    max_event_bytes: int = Field(
        65_536,
        ge=4_096,
        le=1_000_000,
        description="Largest encoded click event (key and value) sent, below the broker's message.max.bytes "
        "(Kafka's default 1 MiB); a larger one is set aside in DATA_DIR/rejected/, never sent.",
    )
    max_clock_skew_seconds: float = Field(
        300.0,
        ge=0,
        description="Batch ingest refuses a click timestamped more than this ahead of the service's clock "
        "(a click from the future would move the worker's watermark).",
    )
    max_backfill_days: float = Field(
        400.0,
        gt=0,
        description="Batch ingest refuses a click older than this, per item with its reason: no window keeps "
        "it (the worker's longest retention, day windows, is 400 days by default; keep the two equal).",
    )
    drain_seconds: float = Field(
        20.0,
        ge=0,
        description="On shutdown, how long pending clicks may take to reach the broker before "
        "they are spooled to disk.",
    )
    link_cache_seconds: float = Field(
        5.0, ge=0, description="How long a link is cached; bounds how soon other processes see a change."
    )
    trusted_proxies: list[str] = Field(
        ["127.0.0.1/32", "::1/128"],
        description="Peers whose CF-* visitor-location headers are believed (JSON list of CIDRs).",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    max_header_bytes: int = Field(
        DEFAULT_MAX_HEADER_BYTES,
        ge=8_192,
        le=1_048_576,
        description="Largest request line and header section read (uvicorn); a larger one gets 431 and the "
        "connection is closed before more is read.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or one JSON object each."
    )
    access_log: bool = Field(False, description="Log every request (costly at high request rates).")
    demo_link: bool = Field(False, description="Create the demo account and link (slug 'demo') at start.")
    demo_api_key: SecretStr | None = Field(None, description="API key given to the demo account at start.")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_database_url(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _ready_within_cap(self) -> ProducerSettings:
        if self.spool_ready_max_bytes > self.spool_max_bytes:
            raise ValueError("spool_ready_max_bytes must not be larger than spool_max_bytes")
        return self

    @model_validator(mode="after")
    def _one_database_url(self) -> ProducerSettings:
        if self.database_url is not None and self.database_url_file is not None:
            raise ValueError("set database_url or database_url_file, not both")
        return self

    def postgres_url(self) -> str | None:
        """The PostgreSQL URL (with its password) from DATABASE_URL or DATABASE_URL_FILE; None: SQLite.

        Raises:
            SettingsError: the file cannot be read, or holds no PostgreSQL URL.
        """
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.database_url_file is None:
            return None
        try:
            url = self.database_url_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read the database URL file {self.database_url_file}: {exc}") from exc
        try:
            check_database_url(url)
        except ValueError as exc:
            raise SettingsError(f"{self.database_url_file}: {exc}") from exc
        return url

    @property
    def database_path(self) -> Path:
        """The SQLite file of the link store."""
        return self.database or self.data_dir / "links.db"

    @property
    def spool_dir(self) -> Path:
        """Where clicks wait on disk while the broker is unreachable: one directory per process below it
        (``producer.spool_slots``)."""
        return self.data_dir / "spool"

    @property
    def rejected_dir(self) -> Path:
        """Where click records are set aside that are never to be sent (too large, refused)."""
        return self.data_dir / "rejected"
