"""The stream worker's configuration: environment variables prefixed ``CLICKPIPE_WORKER_``.

Faust reads unprefixed variables (``BROKER_URL``, ``WEB_PORT``, ...) that would silently override code; the
app is built with an empty Faust environment, so only these settings configure it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import AGGREGATES, CLICKS, CLICKS_DLQ, CLICKS_LATE, DEFAULT_PARTITIONS
from stream_app.aggregation import MAX_CELLS
from stream_app.peers import MIN_SECRET, base_url
from stream_app.windows import Granularity


class WorkerSettings(BaseSettings):
    """Settings of the stream worker; ``KAFKA_BOOTSTRAP_SERVERS`` is a fallback for the broker."""

    model_config = SettingsConfigDict(
        env_prefix="CLICKPIPE_WORKER_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a secret setting's value must not reach a log
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
    schema_registry_url: str | None = Field(
        None, description="Confluent Schema Registry for clicks written in its format (00 + schema id)."
    )
    schema_registry_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest wait for one schema registry request."
    )
    schema_registry_max_backoff_seconds: float = Field(
        30.0, gt=0, description="Longest pause between retries while the schema registry is unreachable."
    )
    schema_registry_negative_cache_seconds: float = Field(
        300.0,
        ge=0,
        description="How long a schema id the registry does not have (or not as Avro) is remembered.",
    )
    dlq_topic: str = Field(CLICKS_DLQ, description="Topic undecodable messages are moved to.")
    late_topic: str = Field(
        CLICKS_LATE, description="Topic clicks go to whose window is past its retention (not counted there)."
    )
    aggregates_topic: str = Field(AGGREGATES, description="Topic final window aggregates go to.")
    windows: dict[str, int] = Field(
        {"minute": 60, "hour": 3600, "day": 86_400},
        description="Window sizes in seconds, by name (JSON); tumbling, aligned to UTC. Each size must "
        "divide the next larger one (a minute lies in one hour, an hour in one day).",
    )
    retention: dict[str, int] = Field(
        {"minute": 2 * 86_400, "hour": 100 * 86_400, "day": 400 * 86_400},
        description="Seconds a closed window is kept (and served) before it expires, by window name (JSON). "
        "Hours are kept 100 days so day buckets in any time zone can be built from them over 90 days.",
    )
    retention_minute: int | None = Field(
        None, ge=0, description="Seconds minute windows are kept, over RETENTION's 'minute'."
    )
    retention_hour: int | None = Field(
        None, ge=0, description="Seconds hour windows are kept, over RETENTION's 'hour'."
    )
    retention_day: int | None = Field(
        None, ge=0, description="Seconds day windows are kept, over RETENTION's 'day'."
    )
    max_cells: int = Field(
        MAX_CELLS,
        ge=1,
        description="Most dimension cells per link and window; past it, a new combination counts with its "
        "region, city, referer and url as '(other)' (totals and the other dimensions stay exact).",
    )
    grace_seconds: float = Field(
        10.0,
        ge=0,
        description="How long a window waits for late clicks before its first aggregate is sent; later ones "
        "amend it while it is kept (RETENTION).",
    )
    max_skew_seconds: float = Field(
        300.0,
        ge=0,
        description="A click whose event time is further ahead of the worker's clock is not counted and "
        "never moves a watermark; it goes to the dead-letter topic.",
    )
    idle_seconds: float = Field(
        10.0, gt=0, description="After this long without clicks, a partition's watermark follows the clock."
    )
    buckets: int = Field(8, ge=1, le=1024, description="State rows per window and partition.")
    batch_size: int = Field(
        40_000, ge=1, description="Most clicks fetched per processing round (larger: fewer state writes)."
    )
    batch_seconds: float = Field(0.2, gt=0, description="Longest wait to fill a batch.")
    fetch_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        description="Most bytes fetched per partition in one round. Processing a fetch holds the event loop "
        "and the next fetch is asked for after it, so larger fetches mean fewer waits for the broker.",
    )
    batch_tap: bool = Field(
        True,
        description="Take clicks off each fetch in one batch, bypassing Faust's per-message stream "
        "machinery (stream_app/faust_internals.py); false uses a stock Faust agent.",
    )
    tick_seconds: float = Field(1.0, gt=0, description="How often idle partitions' windows are checked.")
    advertised_url: str | None = Field(
        None, description="URL other workers reach this one on (default http://WEB_HOST:WEB_PORT)."
    )
    auth_url: str = Field(
        "http://127.0.0.1:8000",
        description="The producer's base URL: stats API keys are checked with its GET /api/account.",
    )
    operator_key: SecretStr | None = Field(
        None,
        description="A key that sees every account's counts in the stats API (unset: none). Keep it secret.",
    )
    cluster_secret: SecretStr | None = Field(
        None,
        description="The secret every worker of a deployment shares (32+ characters): workers sign the "
        "requests for each other's parts and the answers with it. Unset: a worker asks no other worker, so "
        "it answers only while it owns every partition. Keep it secret.",
    )
    cluster_secret_file: Path | None = Field(
        None,
        description="A file holding CLUSTER_SECRET (a Docker secret, /run/secrets/...), instead of the "
        "variable itself.",
    )
    peers: list[str] | None = Field(
        None,
        description="The advertised URLs of the workers that may be asked for their parts (JSON list). "
        "Unset: every member of the consumer group (trust the broker to admit only workers).",
    )
    auth_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="How long a valid API key's account is remembered (a revoked key works so long).",
    )
    auth_negative_cache_seconds: float = Field(
        5.0, ge=0, description="How long an invalid key is remembered."
    )
    auth_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest wait for the producer to check a key."
    )
    session_timeout: float = Field(10.0, gt=0, description="Consumer group session timeout, seconds.")
    heartbeat_interval: float = Field(1.0, gt=0, description="Consumer group heartbeat, seconds.")
    rebalance_timeout: float = Field(10.0, gt=0, description="Consumer group rebalance timeout, seconds.")
    recovery_consistency_check: bool = Field(
        True, description="Check changelog offsets on recovery; off for the embedded broker only."
    )
    replication_factor: int = Field(
        1,
        ge=-1,
        description="Replicas of the topics the worker creates (table changelogs); 3 on a cluster; -1 for "
        "the brokers' default.replication.factor.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="exactly_once needs transactions (Apache Kafka, not the embedded broker).",
    )
    log_level: str = Field("info", description="Worker log level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or one JSON object each."
    )

    @field_validator("operator_key", "cluster_secret", "cluster_secret_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="before")
    @classmethod
    def _secret_from_file(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        path = data.get("cluster_secret_file")
        if not path:
            return data
        if data.get("cluster_secret"):
            raise ValueError("set cluster_secret or cluster_secret_file, not both")
        try:
            secret = Path(path).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:  # the message names the file, never its content
            raise ValueError(f"cannot read cluster_secret_file {path}: {type(exc).__name__}") from None
        return {**data, "cluster_secret": secret}

    @field_validator("cluster_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"cluster_secret must be at least {MIN_SECRET} characters")
        return value

    @field_validator("peers")
    @classmethod
    def _peer_urls(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"peers must be http(s) base URLs, not {url[:100]!r}")
        return [base_url(url) for url in value]

    @field_validator("replication_factor")
    @classmethod
    def _replicas_or_broker_default(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a topic needs at least one replica (or -1, the brokers' default)")
        return value

    def retention_seconds(self) -> dict[str, int]:
        """Seconds each window is kept: ``RETENTION``, with ``RETENTION_<NAME>`` over it."""
        overrides = {
            "minute": self.retention_minute,
            "hour": self.retention_hour,
            "day": self.retention_day,
        }
        return {
            **self.retention,
            **{name: value for name, value in overrides.items() if value is not None},
        }

    @model_validator(mode="after")
    def _windows_have_retention(self) -> WorkerSettings:
        missing = sorted(set(self.windows) - set(self.retention_seconds()))
        if missing:
            raise ValueError(f"no retention for windows: {', '.join(missing)}")
        if not self.windows or any(size <= 0 for size in self.windows.values()):
            raise ValueError("windows must name at least one positive size in seconds")
        sizes = sorted(self.windows.values())
        if any(larger % smaller for smaller, larger in itertools.pairwise(sizes)):
            raise ValueError("each window size must divide the next larger one")
        if self.operator_key is not None and len(self.operator_key.get_secret_value()) < 16:
            raise ValueError("operator_key must be at least 16 characters")
        return self

    def granularities(self) -> tuple[Granularity, ...]:
        """Return the configured windows, smallest first."""
        retention = self.retention_seconds()
        return tuple(
            sorted(
                (
                    Granularity(name, size * 1000, retention[name] * 1000)
                    for name, size in self.windows.items()
                ),
                key=lambda gran: gran.size_ms,
            )
        )

    @property
    def url(self) -> str:
        """The URL this worker's HTTP API is reached on."""
        return self.advertised_url or f"http://{self.web_host}:{self.web_port}"
