import asyncio
import io
from pathlib import Path

import pytest

from clickpipe.cli import main
from producer.sqlite_store import SqliteStore


def test_accounts_and_keys_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accounts", "create", "Acme", "--data-dir", str(tmp_path)]) == 0
    account_id = capsys.readouterr().out.split()[1]
    assert main(["keys", "create", account_id, "--data-dir", str(tmp_path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("cpk_")
    store = SqliteStore(tmp_path / "links.db")
    try:
        assert asyncio.run(store.account_for_key(key)) == account_id
    finally:
        store.close()


def test_a_key_for_an_unknown_account_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "nobody", "--data-dir", str(tmp_path)]) == 1
    assert "no account 'nobody'" in capsys.readouterr().err


def test_a_key_revoked_from_the_command_line_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["accounts", "create", "Acme", "--data-dir", str(tmp_path)]) == 0
    account_id = capsys.readouterr().out.split()[1]
    assert main(["keys", "create", account_id, "--data-dir", str(tmp_path)]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["keys", "revoke", key, "--data-dir", str(tmp_path)]) == 0
    store = SqliteStore(tmp_path / "links.db")
    try:
        assert asyncio.run(store.account_for_key(key)) is None
    finally:
        store.close()
    assert main(["keys", "revoke", key, "--data-dir", str(tmp_path)]) == 1
    assert "no such API key" in capsys.readouterr().err


def test_a_key_to_revoke_can_come_on_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not on the command line, where other users of the machine can read it (ps).
    assert main(["accounts", "create", "Acme", "--data-dir", str(tmp_path)]) == 0
    account_id = capsys.readouterr().out.split()[1]
    assert main(["keys", "create", account_id, "--data-dir", str(tmp_path)]) == 0
    key = capsys.readouterr().out.strip()
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert main(["keys", "revoke", "-", "--data-dir", str(tmp_path)]) == 0
    assert main(["keys", "revoke", key, "--data-dir", str(tmp_path)]) == 1
