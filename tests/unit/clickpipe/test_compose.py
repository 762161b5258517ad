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
from schemas.broker_auth import ENV_NAMES
from stream_app.settings import WorkerSettings

COMPOSE_DIR = Path(__file__).resolve().parents[3] / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def env_names(service: str) -> set[str]:
    return set(SERVICES[service].get("environment", {}))


def test_the_services_are_all_there() -> None:
    assert {"kafka", "kafka-1", "kafka-2", "kafka-3", "postgres", "topics"} <= SERVICES.keys()
    assert {"producer", "producer-2", "worker", "worker-2"} <= SERVICES.keys()
    assert SERVICES["kafka"]["profiles"] == ["single"]
    assert all(SERVICES[f"kafka-{n}"]["profiles"] == ["cluster"] for n in (1, 2, 3))
    for shared in ("postgres", "topics", "producer", "worker"):
        assert SERVICES[shared]["profiles"] == ["single", "cluster"]
    assert SERVICES["producer-2"]["profiles"] == SERVICES["worker-2"]["profiles"] == ["cluster"]


@pytest.mark.parametrize(("service", "prefix", "settings"), [
    ("producer", "CLICKPIPE_PRODUCER_", ProducerSettings),
    ("producer-2", "CLICKPIPE_PRODUCER_", ProducerSettings),
    ("worker", "CLICKPIPE_WORKER_", WorkerSettings),
    ("worker-2", "CLICKPIPE_WORKER_", WorkerSettings),
])  # fmt: skip
def test_every_environment_variable_is_a_setting(service: str, prefix: str, settings: type) -> None:
    names = env_names(service)
    assert names, f"{service} sets no environment"
    fields = {name.upper() for name in settings.model_fields}
    for name in names:
        if name in ENV_NAMES:  # the Kafka login, read by every client (schemas.broker_auth)
            continue
        assert name.startswith(prefix), f"{service}: {name} lacks the {prefix} prefix"
        assert name.removeprefix(prefix) in fields, f"{service}: {name} is not a {settings.__name__} field"
    assert {"CLICKPIPE_KAFKA_USERNAME", "CLICKPIPE_KAFKA_PASSWORD"} <= set(names)  # it logs in to Kafka


def test_services_start_in_order_and_every_one_has_a_health_check_and_restarts() -> None:
    for service in ("producer", "producer-2"):
        assert SERVICES[service]["depends_on"] == {
            "topics": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
        }
    for service in ("worker", "worker-2"):
        assert SERVICES[service]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
    assert SERVICES["topics"]["depends_on"] == {
        "kafka-users": {"condition": "service_completed_successfully"}
    }
    assert "--acls" in SERVICES["topics"]["command"]  # the producer's and worker's grants, as admin
    brokers = SERVICES["kafka-users"]["depends_on"]
    assert set(brokers) == {"kafka", "kafka-1", "kafka-2", "kafka-3"}
    assert all(dep["condition"] == "service_healthy" and dep["required"] is False for dep in brokers.values())
    for broker in ("kafka", "kafka-1", "kafka-2", "kafka-3"):
        assert "/dev/tcp/127.0.0.1/9092" in " ".join(SERVICES[broker]["healthcheck"]["test"])
        assert (
            "PLAINTEXT:PLAINTEXT"
            not in SERVICES[broker]["environment"]["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
        )
    for service in ("producer", "producer-2", "worker", "worker-2"):
        assert "/readyz" in " ".join(SERVICES[service]["healthcheck"]["test"])
    for name, service in SERVICES.items():
        assert service["restart"] == ("no" if name in ("topics", "kafka-users") else "unless-stopped"), name
        one_shot = name in ("topics", "kafka-users")
        assert one_shot or "healthcheck" in service or name == "schema-registry", name


def test_the_cluster_profile_has_three_voters_and_replicates_three_times() -> None:
    voters = SERVICES["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert {SERVICES[f"kafka-{n}"]["environment"]["KAFKA_NODE_ID"] for n in (1, 2, 3)} == {1, 2, 3}
    for n in (1, 2, 3):
        env = SERVICES[f"kafka-{n}"]["environment"]
        assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == (3, 2)
        assert SERVICES[f"kafka-{n}"]["networks"]["default"]["aliases"] == ["kafka"]
    assert SERVICES["kafka"]["environment"]["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 1
    # Topics and changelogs take the brokers' default: 1 in "single", 3 in "cluster".
    command = SERVICES["topics"]["command"]
    assert command[command.index("--replication-factor") + 1] == "-1"
    assert SERVICES["worker"]["environment"]["CLICKPIPE_WORKER_REPLICATION_FACTOR"] == "-1"


def _defaults(text: str) -> str:
    """``text`` with each ``${NAME:-default}`` or ``${NAME-default}`` replaced by its default."""
    return re.sub(r"\$\{[A-Z_0-9]+:?-([^}]*)\}", r"\1", text)


def test_every_port_is_published_on_loopback_unless_asked() -> None:
    published = [(name, port) for name, spec in SERVICES.items() for port in spec.get("ports", [])]
    assert {name for name, _ in published} >= {"producer", "producer-2", "worker", "worker-2", "kafka"}
    for service, port in published:
        assert port.startswith("${CLICKPIPE_HOST_IP:-127.0.0.1}:"), (service, port)
        assert _defaults(port).startswith("127.0.0.1:"), (service, port)
    env = (COMPOSE_DIR / ".env.example").read_text()
    assert re.search(r"^CLICKPIPE_HOST_IP=127\.0\.0\.1$", env, re.MULTILINE)


def test_the_worker_checks_keys_with_the_producer() -> None:
    env = SERVICES["worker"]["environment"]
    assert env["CLICKPIPE_WORKER_AUTH_URL"] == "http://producer:8000"
    assert env["CLICKPIPE_WORKER_OPERATOR_KEY"] == "${CLICKPIPE_OPERATOR_KEY:-}"
    assert WorkerSettings(operator_key="").operator_key is None  # unset in .env: no operator access


def test_data_lives_in_named_volumes() -> None:
    for service in ("kafka", "kafka-1", "kafka-2", "kafka-3", "postgres", "producer", "producer-2", "worker"):
        for volume in SERVICES[service]["volumes"]:
            assert volume.split(":")[0] in COMPOSE["volumes"]
    assert SERVICES["producer"]["volumes"] != SERVICES["producer-2"]["volumes"]  # a spool each
    assert SERVICES["worker"]["volumes"] != SERVICES["worker-2"]["volumes"]  # table state each


SECRETS = ("CLICKPIPE_DB_PASSWORD", "CLICKPIPE_CLUSTER_SECRET")


def test_every_variable_is_documented_and_secrets_have_no_default() -> None:
    text = (COMPOSE_DIR / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_0-9]+)", text))
    example = (COMPOSE_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^(?:# )?([A-Z_0-9]+)=", example, re.MULTILINE))
    assert used <= documented, f"undocumented: {used - documented}"
    for secret in SECRETS:  # from the environment (.env), required, never a value in a file of the project
        uses = re.findall(rf"\$\{{{secret}(:?[?-])?", text)
        assert uses and all(use == ":?" for use in uses), (secret, uses)
        assert re.search(rf"^{secret}=$", example, re.MULTILINE), secret
    made = subprocess.run(["sh", str(COMPOSE_DIR / "new-env")], capture_output=True, text=True, check=True)
    values = dict(line.split("=", 1) for line in made.stdout.splitlines() if not line.startswith("#"))
    assert set(SECRETS) <= values.keys() and all(len(values[name]) >= 32 for name in SECRETS)


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
@pytest.mark.parametrize("profile", ["single", "cluster"])
def test_docker_compose_accepts_the_file(profile: str, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(subprocess.run(["sh", "new-env"], cwd=COMPOSE_DIR, capture_output=True, text=True).stdout)
    result = subprocess.run(
        ["docker", "compose", "--env-file", str(env), "--profile", profile, "config", "--quiet"],
        cwd=COMPOSE_DIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_without_secrets_compose_says_which_is_missing() -> None:
    if not _has_compose():
        pytest.skip("no docker compose plugin here")
    result = subprocess.run(
        ["docker", "compose", "--env-file", ".env.example", "--profile", "single", "config", "--quiet"],
        cwd=COMPOSE_DIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "new-env" in result.stderr


def test_workers_name_their_processing_guarantee() -> None:
    # at_least_once, stated: rows skip what they applied (exactly_once crash-looped after a broker kill).
    for name in ("worker", "worker-2"):
        environment = SERVICES[name]["environment"]
        assert environment["CLICKPIPE_WORKER_PROCESSING_GUARANTEE"] == "at_least_once", name
