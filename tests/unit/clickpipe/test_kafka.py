"""The Apache Kafka manager's pure parts: node configuration, ids, and the errors that say what to install."""

from __future__ import annotations

import base64
import hashlib
import stat
import threading
from pathlib import Path

import pytest

from clickpipe import kafka
from clickpipe.errors import KafkaSetupError
from clickpipe.kafka import KafkaCluster, KafkaNode, kafka_libs, kafka_uuid, node_properties


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def _nodes(count: int) -> list[KafkaNode]:
    return [
        KafkaNode(n, "127.0.0.1", 10_000 + n, 20_000 + n, Path(f"/k/node-{n}")) for n in range(1, count + 1)
    ]


def test_a_single_node_is_broker_and_controller_with_one_replica() -> None:
    [node] = _nodes(1)
    props = _props(node_properties(node, [node]))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:20001"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:10001,CONTROLLER://127.0.0.1:20001"
    assert props["log.dirs"] == "/k/node-1/data"
    assert props["offsets.topic.replication.factor"] == props["min.insync.replicas"] == "1"
    assert props["auto.create.topics.enable"] == "false"


def test_three_nodes_form_one_quorum_with_three_replicas_and_two_in_sync() -> None:
    nodes = _nodes(3)
    for node in nodes:
        props = _props(node_properties(node, nodes))
        assert props["node.id"] == str(node.node_id)
        assert (
            props["controller.quorum.bootstrap.servers"] == "127.0.0.1:20001,127.0.0.1:20002,127.0.0.1:20003"
        )
        assert props["default.replication.factor"] == props["transaction.state.log.replication.factor"] == "3"
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
        assert props["advertised.listeners"].startswith(f"PLAINTEXT://127.0.0.1:{node.port},")


def test_kafka_uuids_are_16_bytes_in_url_safe_base64_and_never_start_with_a_dash() -> None:
    ids = {kafka_uuid() for _ in range(2_000)}
    assert len(ids) == 2_000
    for text in ids:
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16


def test_missing_java_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(kafka.shutil, "which", lambda name: None)
    with pytest.raises(KafkaSetupError, match="apt-get install openjdk-17-jre-headless"):
        kafka.java_binary()


def test_missing_maven_says_how_to_get_the_jars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CLICKPIPE_KAFKA_LIBS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(kafka.shutil, "which", lambda name: None)
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    with pytest.raises(KafkaSetupError, match=r"apt-get install maven .*CLICKPIPE_KAFKA_LIBS"):
        kafka_libs(pom)


def test_a_libs_directory_without_kafka_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLICKPIPE_KAFKA_LIBS", str(tmp_path))
    with pytest.raises(KafkaSetupError, match=r"holds no kafka_2\.13 jar"):
        kafka_libs()


def test_fetched_jars_are_reused_without_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CLICKPIPE_KAFKA_LIBS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(kafka.shutil, "which", lambda name: None)  # Maven would be needed to fetch
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    cache = tmp_path / "clickpipe" / f"kafka-{hashlib.sha256(pom.read_bytes()).hexdigest()[:12]}"
    (cache / "libs").mkdir(parents=True)
    (cache / "complete").write_text("done")
    assert kafka_libs(pom) == cache / "libs"
    pom.write_text("<project><!-- another Kafka --></project>")  # a changed pom is fetched anew
    with pytest.raises(KafkaSetupError, match="apt-get install maven"):
        kafka_libs(pom)


def test_the_pom_pins_the_same_kafka_as_compose() -> None:
    root = Path(__file__).resolve().parents[3]
    pom = (root / "kafka" / "pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
    assert version.startswith("4.")
    compose = (root / "compose" / "docker-compose.yml").read_text()
    images = {line.split("image:")[1].strip() for line in compose.splitlines() if "apache/kafka" in line}
    assert images == {f"apache/kafka:{version}"}


def test_a_cluster_has_one_or_three_nodes() -> None:
    with pytest.raises(ValueError, match="1 or 3"):
        KafkaCluster(2)
    with pytest.raises(ValueError, match="fixed port"):
        KafkaCluster(3, port=9092)


def test_nodes_are_started_from_the_main_thread_only(tmp_path: Path) -> None:
    """A node started from another thread would die with that thread (PR_SET_PDEATHSIG follows threads)."""
    cluster = KafkaCluster(1, data_dir=tmp_path)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            cluster.start_node(1)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "main thread" in str(errors[0])
    assert not cluster.alive(1)


def test_a_secured_node_takes_only_sasl_and_refuses_what_no_acl_allows() -> None:
    [node] = _nodes(1)
    props = _props(node_properties(node, [node], admin_password="s3cret"))  # noqa: S106 - a test password
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:10001,CONTROLLER://127.0.0.1:20001"
    assert "PLAINTEXT:PLAINTEXT" not in props["listener.security.protocol.map"]  # no open listener at all
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert (
        props["sasl.enabled.mechanisms"] == props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    )
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert 'password="s3cret"' in props["listener.name.controller.plain.sasl.jaas.config"]


def test_a_secured_cluster_keeps_its_passwords_private_and_gives_each_user_its_login(tmp_path: Path) -> None:
    cluster = KafkaCluster(1, data_dir=tmp_path, passwords={"producer": "given"})
    cluster._java, cluster._libs = "/bin/true", tmp_path  # "formats" without Java: the files are what matter
    cluster._format()
    assert stat.S_IMODE(cluster.credentials_path.stat().st_mode) == 0o600
    assert cluster.auth("producer").secret() == "given"
    worker = cluster.auth("worker")
    assert worker.username == "worker" and len(worker.secret()) >= 24
    assert cluster.auth("admin").secret() != worker.secret()
    settings = cluster.client_settings("worker")
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert f"CLICKPIPE_KAFKA_PASSWORD={worker.secret()}" in settings.read_text()
    for node in cluster.nodes:
        assert stat.S_IMODE((node.directory / "server.properties").stat().st_mode) == 0o600


def test_an_unsecured_data_dir_is_refused_by_a_secured_cluster(tmp_path: Path) -> None:
    (tmp_path / "nodes.json").write_text(
        '[{"node_id": 1, "host": "127.0.0.1", "port": 10001, "controller_port": 20001}]'
    )
    with pytest.raises(KafkaSetupError, match="without authentication"):
        KafkaCluster(1, data_dir=tmp_path)
    assert KafkaCluster(1, data_dir=tmp_path, secured=False).auth().security_protocol == "PLAINTEXT"
