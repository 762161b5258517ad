import json
import logging
import logging.config

import pytest

from clickpipe.logs import JsonFormatter, logging_config


def test_json_lines_carry_level_logger_message_and_extras() -> None:
    record = logging.LogRecord("clickpipe.x", logging.WARNING, __file__, 1, "spooled %d clicks", (5,), None)
    record.partition = 3
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["message"], entry["partition"]) == (
        "warning",
        "clickpipe.x",
        "spooled 5 clicks",
        3,
    )
    assert entry["time"].endswith("+00:00")


def test_exceptions_are_included() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_config_is_accepted_by_dictconfig(fmt: str) -> None:
    config = logging_config("warning", fmt)  # type: ignore[arg-type]
    logging.config.dictConfig(config)
    assert logging.getLogger().level == logging.WARNING
