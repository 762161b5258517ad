"""How every clickpipe process authenticates to Kafka: the one place its clients are configured for it.

The producer, the worker (Faust and its own clients), the admin commands and the benchmarks all read
``CLICKPIPE_KAFKA_*`` through :class:`BrokerAuth` and hand its options to their client: aiokafka's keyword
arguments (:meth:`BrokerAuth.aiokafka_options`), Faust's credentials (built from the same in
``stream_app.app``), or a Java client's properties for Kafka's own tools (:meth:`BrokerAuth.java_properties`).
Unset, clients speak PLAINTEXT, which is what the embedded development broker takes.

``clickpipe broker --kind kafka``, ``up --broker kafka`` and compose run Kafka with SASL/SCRAM listeners and
ACLs: each process then gets its own user (``producer``, ``worker``, ``admin``) through these variables.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
ENV_PREFIX = "CLICKPIPE_KAFKA_"

_LOGIN_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


class BrokerAuth(BaseSettings):
    """A Kafka client's security settings, from ``CLICKPIPE_KAFKA_*`` (or given)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", hide_input_in_errors=True
    )

    security_protocol: Protocol = Field(
        "PLAINTEXT",
        description="PLAINTEXT (the embedded broker), SASL_PLAINTEXT, SSL or SASL_SSL (Kafka's names).",
    )
    sasl_mechanism: Mechanism = Field("SCRAM-SHA-512", description="SASL mechanism, with a SASL protocol.")
    username: str | None = Field(
        None, description="SASL user (clickpipe's brokers: producer, worker, admin)."
    )
    password: SecretStr | None = Field(None, description="SASL password.")
    password_file: Path | None = Field(
        None, description="A file holding the password (a Docker secret), instead of PASSWORD."
    )
    ssl_cafile: Path | None = Field(
        None, description="CA certificate (PEM) the brokers' certificates are checked against, with SSL."
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.password is None and self.password_file is not None:
            try:
                secret = self.password_file.read_text().strip()
            except OSError as exc:
                raise ValueError(
                    f"cannot read {ENV_PREFIX}PASSWORD_FILE {self.password_file}: {exc}"
                ) from exc
            object.__setattr__(self, "password", SecretStr(secret))
        if self.sasl and (not self.username or self.password is None):
            raise ValueError(
                f"{ENV_PREFIX}SECURITY_PROTOCOL={self.security_protocol} needs {ENV_PREFIX}USERNAME "
                f"and {ENV_PREFIX}PASSWORD (or PASSWORD_FILE)"
            )
        return self

    @classmethod
    def scram(cls, username: str, password: str, *, ca_file: Path | None = None) -> BrokerAuth:
        """SASL/SCRAM-SHA-512 as ``username`` (what clickpipe's own Kafka brokers take): over plaintext, or
        over TLS checked against ``ca_file`` when one is given."""
        return cls(
            security_protocol="SASL_PLAINTEXT" if ca_file is None else "SASL_SSL",
            username=username,
            password=SecretStr(password),
            ssl_cafile=ca_file,
        )

    @property
    def sasl(self) -> bool:
        """True when the protocol authenticates with SASL."""
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        """True when the connection is encrypted."""
        return self.security_protocol.endswith("SSL")

    def secret(self) -> str:
        """The password, for a client that needs it in clear (empty when there is none)."""
        return self.password.get_secret_value() if self.password is not None else ""

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of an SSL protocol (system CAs, or ``ssl_cafile``); None without TLS."""
        if not self.tls:
            return None
        cafile = str(self.ssl_cafile) if self.ssl_cafile is not None else None
        return ssl.create_default_context(cafile=cafile)

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin, bare client)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.secret(),
            }
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def java_properties(self) -> str:
        """A Java client's properties file (``--command-config`` of Kafka's tools); keep it private."""
        lines = [f"security.protocol={self.security_protocol}"]
        if self.sasl:
            quoted = self.secret().replace("\\", "\\\\").replace('"', '\\"')
            lines += [
                f"sasl.mechanism={self.sasl_mechanism}",
                f"sasl.jaas.config={_LOGIN_MODULES[self.sasl_mechanism]} required "
                f'username="{self.username}" password="{quoted}";',
            ]
        if self.ssl_cafile is not None:
            lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.ssl_cafile}"]
        return "\n".join(lines) + "\n"

    def environment(self) -> dict[str, str]:
        """The ``CLICKPIPE_KAFKA_*`` variables that give a child process these settings."""
        env: dict[str, str] = {f"{ENV_PREFIX}SECURITY_PROTOCOL": self.security_protocol}
        if self.sasl:
            env |= {
                f"{ENV_PREFIX}SASL_MECHANISM": self.sasl_mechanism,
                f"{ENV_PREFIX}USERNAME": self.username or "",
                f"{ENV_PREFIX}PASSWORD": self.secret(),
            }
        if self.ssl_cafile is not None:
            env[f"{ENV_PREFIX}SSL_CAFILE"] = str(self.ssl_cafile)
        return env

    def describe(self) -> str:
        """One line for banners and logs, without the password."""
        if not self.sasl:
            return f"{self.security_protocol} (no authentication)"
        return f"{self.security_protocol}, {self.sasl_mechanism} as {self.username}"


ENV_NAMES = tuple(f"{ENV_PREFIX}{name.upper()}" for name in BrokerAuth.model_fields)
"""Every variable ``BrokerAuth`` reads (a child given settings of its own drops the parent's first)."""


@contextlib.contextmanager
def exported(auth: BrokerAuth) -> Iterator[None]:
    """``auth`` as this process's ``CLICKPIPE_KAFKA_*`` for the block, then the variables as they were:
    every client made inside it, here or in a child process, logs in so (tests, benchmarks)."""
    saved = {name: os.environ.pop(name, None) for name in ENV_NAMES}
    os.environ.update(auth.environment())
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
