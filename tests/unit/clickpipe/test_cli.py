import pytest

from clickpipe.cli import build_parser, load_options, log_level, main


@pytest.mark.parametrize("command", ["up", "broker", "topics", "producer", "worker"])
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"clickpipe {command}" in text
    assert len(text.splitlines()) > 4


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("up", "broker", "topics", "producer", "worker"):
        assert command in text
    assert "KAFKA_BOOTSTRAP_SERVERS" in text


def test_topics_defaults_to_kafka_bootstrap_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:29092")
    args = build_parser().parse_args(["topics"])
    assert args.bootstrap_servers == "kafka:29092"


def test_unreachable_broker_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["topics", "--bootstrap-servers", "127.0.0.1:1", "--connect-timeout", "1"])
    assert code == 1
    assert "cannot create topics on 127.0.0.1:1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "requests"),
    [
        ([], 10_000),
        (["--requests", "5"], 5),
        (["--requests=5"], 5),
        (["--duration", "3"], None),
        (["--duration=3", "--requests=7"], 7),
    ],
)
def test_loadgen_requests_however_spelled(argv: list[str], requests: int | None) -> None:
    assert load_options(build_parser().parse_args(["loadgen", *argv])).requests == requests


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["up"], "WARNING"),
        (["up", "--verbose"], "INFO"),
        (["--log-level", "debug", "up"], "DEBUG"),
        (["topics"], "INFO"),
    ],
)
def test_up_is_quiet_unless_verbose(argv: list[str], level: str) -> None:
    assert log_level(build_parser().parse_args(argv)) == level
