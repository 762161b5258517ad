"""The settings the producer hands to its server's worker processes through the environment."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from producer.main import settings_environment
from producer.settings import ProducerSettings

SHARED = SecretStr("postgresql://clickpipe:a-password@db.example:5432/clickpipe")


def test_the_environment_gives_back_the_same_settings_secrets_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ProducerSettings(
        database_url=SHARED, demo_api_key=SecretStr("cpk_demo"), trusted_proxies=["10.0.0.0/8"], port=8123
    )
    environment = settings_environment(settings)
    assert environment["CLICKPIPE_PRODUCER_DATABASE_URL"] == SHARED.get_secret_value()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert ProducerSettings() == settings
