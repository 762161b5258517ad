"""How clickpipe's clients log in to Kafka: one settings object, the same options for every client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.broker_auth import ENV_NAMES, BrokerAuth, exported


@pytest.fixture(autouse=True)
def _no_outer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_unset_is_plaintext_with_nothing_else() -> None:
    auth = BrokerAuth()
    assert auth.aiokafka_options() == {"security_protocol": "PLAINTEXT"}
    assert auth.java_properties() == "security.protocol=PLAINTEXT\n"
    assert auth.describe() == "PLAINTEXT (no authentication)"


def test_scram_from_the_environment_reaches_aiokafka_java_and_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLICKPIPE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CLICKPIPE_KAFKA_USERNAME", "worker")
    monkeypatch.setenv("CLICKPIPE_KAFKA_PASSWORD", 'p"w\\d')
    auth = BrokerAuth()
    assert auth.aiokafka_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "worker",
        "sasl_plain_password": 'p"w\\d',
    }
    assert 'username="worker" password="p\\"w\\\\d";' in auth.java_properties()  # quoted for JAAS
    assert BrokerAuth(**{}) == auth
    assert 'p"w' not in repr(auth) and 'p"w' not in auth.describe()  # the password is never shown
    assert auth.environment()["CLICKPIPE_KAFKA_PASSWORD"] == 'p"w\\d'  # noqa: S105


def test_a_password_file_is_read_and_a_missing_login_is_a_clear_error(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    auth = BrokerAuth(security_protocol="SASL_SSL", username="producer", password_file=secret)
    assert auth.secret() == "from-a-file"
    assert auth.aiokafka_options()["ssl_context"] is not None  # SASL_SSL: TLS with the system's CAs
    with pytest.raises(ValidationError, match="needs CLICKPIPE_KAFKA_USERNAME"):
        BrokerAuth(security_protocol="SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="cannot read CLICKPIPE_KAFKA_PASSWORD_FILE"):
        BrokerAuth(security_protocol="SASL_PLAINTEXT", username="u", password_file=tmp_path / "none")
    with pytest.raises(ValidationError):
        BrokerAuth(security_protocol="SASL_PLAINTXT")  # a typo is refused, not taken for PLAINTEXT


def test_exported_sets_the_variables_for_the_block_and_puts_the_outer_ones_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLICKPIPE_KAFKA_PASSWORD_FILE", "/outer")
    with exported(BrokerAuth.scram("admin", "pw")):
        assert os.environ["CLICKPIPE_KAFKA_USERNAME"] == "admin"
        assert "CLICKPIPE_KAFKA_PASSWORD_FILE" not in os.environ  # the outer login does not leak in
        assert BrokerAuth().username == "admin"
    assert os.environ["CLICKPIPE_KAFKA_PASSWORD_FILE"] == "/outer"  # noqa: S105
    assert "CLICKPIPE_KAFKA_USERNAME" not in os.environ
