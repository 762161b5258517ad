"""The compose deployment, checked without a Docker engine: structure, dependencies, settings names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from producer.settings import ProducerSettings
from stream_app.settings import WorkerSettings

COMPOSE_DIR = Path(__file__).resolve().parents[3] / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def env_names(service: str) -> set[str]:
    return set(SERVICES[service].get("environment", {}))


def test_the_services_are_all_there() -> None:
    assert {"kafka", "kafka-1", "kafka-2", "kafka-3", "topics", "producer", "worker"} <= SERVICES.keys()
    assert SERVICES["kafka"]["profiles"] == ["single"]
    assert all(SERVICES[f"kafka-{n}"]["profiles"] == ["cluster"] for n in (1, 2, 3))


@pytest.mark.parametrize(("service", "prefix", "settings"), [
    ("producer", "CLICKPIPE_PRODUCER_", ProducerSettings),
    ("worker", "CLICKPIPE_WORKER_", WorkerSettings),
])  # fmt: skip
def test_every_environment_variable_is_a_setting(service: str, prefix: str, settings: type) -> None:
    names = env_names(service)
    assert names, f"{service} sets no environment"
    fields = {name.upper() for name in settings.model_fields}
    for name in names:
        assert name.startswith(prefix), f"{service}: {name} lacks the {prefix} prefix"
        assert name.removeprefix(prefix) in fields, f"{service}: {name} is not a {settings.__name__} field"


def test_services_start_in_order() -> None:
    for service in ("producer", "worker"):
        assert SERVICES[service]["depends_on"] == {"topics": {"condition": "service_completed_successfully"}}
    brokers = SERVICES["topics"]["depends_on"]
    assert set(brokers) == {"kafka", "kafka-1", "kafka-2", "kafka-3"}
    assert all(dep["condition"] == "service_healthy" and dep["required"] is False for dep in brokers.values())
    for broker in ("kafka", "kafka-1", "kafka-2", "kafka-3"):
        assert "kafka-broker-api-versions.sh" in " ".join(SERVICES[broker]["healthcheck"]["test"])
    for service in ("producer", "worker"):
        assert "healthz" in " ".join(SERVICES[service]["healthcheck"]["test"])


def test_the_cluster_profile_has_three_voters_and_replicates_three_times() -> None:
    voters = SERVICES["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert {SERVICES[f"kafka-{n}"]["environment"]["KAFKA_NODE_ID"] for n in (1, 2, 3)} == {1, 2, 3}
    assert SERVICES["kafka-1"]["environment"]["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3
    assert "--replication-factor" in SERVICES["topics"]["command"]
    env = (COMPOSE_DIR / ".env.example").read_text()
    assert "kafka-1:9092,kafka-2:9092,kafka-3:9092" in env


def _defaults(text: str) -> str:
    """``text`` with each ``${NAME:-default}`` replaced by its default (what compose does without a .env)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_workers_scale() -> None:
    worker = SERVICES["worker"]
    [port] = worker["ports"]
    assert _defaults(port) == "127.0.0.1::6066"  # no fixed host port, so --scale worker=3 works
    assert {"--data-slot", "--advertise-own-address"} <= set(worker["command"])


def test_the_worker_is_published_on_loopback_unless_asked() -> None:
    [port] = SERVICES["worker"]["ports"]
    assert port.startswith("${WORKER_HOST_IP:-127.0.0.1}:")
    env = (COMPOSE_DIR / ".env.example").read_text()
    assert re.search(r"^WORKER_HOST_IP=127\.0\.0\.1$", env, re.MULTILINE)
    for service, spec in SERVICES.items():
        for published in spec.get("ports", []):
            if ":" in str(published) and service != "producer":  # the redirect is public on purpose
                assert _defaults(str(published)).startswith("127.0.0.1:"), (service, published)


def test_the_worker_checks_keys_with_the_producer() -> None:
    env = SERVICES["worker"]["environment"]
    assert env["CLICKPIPE_WORKER_AUTH_URL"] == "http://producer:8000"
    assert env["CLICKPIPE_WORKER_OPERATOR_KEY"] == "${CLICKPIPE_OPERATOR_KEY:-}"
    assert WorkerSettings(operator_key="").operator_key is None  # unset in .env: no operator access


def test_data_lives_in_named_volumes() -> None:
    for service in ("kafka", "kafka-1", "kafka-2", "kafka-3", "producer", "worker"):
        for volume in SERVICES[service]["volumes"]:
            assert volume.split(":")[0] in COMPOSE["volumes"]


def test_every_variable_is_documented_and_required_ones_say_so() -> None:
    text = (COMPOSE_DIR / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = set(re.findall(r"^([A-Z_]+)=", (COMPOSE_DIR / ".env.example").read_text(), re.MULTILINE))
    assert used <= documented, f"undocumented: {used - documented}"
    assert re.search(r"\$\{KAFKA_CLUSTER_ID:\?", text)


def test_the_image_runs_the_cli() -> None:
    dockerfile = (COMPOSE_DIR.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["clickpipe"]' in dockerfile
    assert "USER clickpipe" in dockerfile


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="no docker compose plugin here")
def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "--env-file", ".env.example", "config", "--quiet"],
        cwd=COMPOSE_DIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
