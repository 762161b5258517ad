from pathlib import Path

import pytest

from stream_app.app import create_app, faust_config
from stream_app.settings import WorkerSettings


def test_faust_own_environment_variables_cannot_hijack_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_URL", "kafka://hijacked:1")
    monkeypatch.setenv("WEB_PORT", "1")
    monkeypatch.setenv("TOPIC_PARTITIONS", "99")
    monkeypatch.setenv("APP_DATADIR", "/hijacked")
    settings = WorkerSettings(bootstrap_servers="b1:9092,b2:9092", web_port=6100, data_dir=Path("/tmp/w"))

    app = create_app(settings)

    assert [str(url) for url in app.conf.broker] == ["kafka://b1:9092", "kafka://b2:9092"]
    assert app.conf.web_port == 6100
    assert app.conf.topic_partitions == settings.partitions
    assert str(app.conf.datadir).startswith("/tmp/w")


def test_prefixed_environment_configures_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKPIPE_WORKER_WEB_PORT", "6200")
    monkeypatch.setenv("CLICKPIPE_WORKER_RECOVERY_CONSISTENCY_CHECK", "false")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")

    config = faust_config(WorkerSettings())

    assert config["web_port"] == 6200
    assert config["recovery_consistency_check"] is False
    assert config["broker"] == ["kafka://kafka:9092"]


def test_specific_bootstrap_variable_wins_over_the_generic_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "generic:9092")
    monkeypatch.setenv("CLICKPIPE_WORKER_BOOTSTRAP_SERVERS", "specific:9092")

    assert WorkerSettings().bootstrap_servers == "specific:9092"


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="partitions"):
        WorkerSettings(partitions=0)


def test_day_windows_and_retention_per_granularity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKPIPE_WORKER_RETENTION_HOUR", "3600")
    grans = {gran.name: gran for gran in WorkerSettings().granularities()}
    assert list(grans) == ["minute", "hour", "day"]
    assert grans["day"].size_ms == 86_400_000
    assert grans["hour"].retention_ms == 3_600_000
    assert grans["minute"].retention_ms == 2 * 86_400_000
    assert grans["day"].retention_ms == 400 * 86_400_000


def test_window_sizes_must_nest() -> None:
    with pytest.raises(ValueError, match="divide"):
        WorkerSettings(windows={"a": 60, "b": 90}, retention={"a": 1, "b": 1})
