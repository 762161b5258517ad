"""Local table state is used again only after a clean stop; after SIGKILL the changelog is recovered."""

from __future__ import annotations

import stat
from pathlib import Path

from stream_app.local_state import CLEAN_STOP, claim, mark_clean


def _state(tmp_path: Path) -> Path:
    tables = tmp_path / "v1" / "tables"
    (tables / "rows-0.db").mkdir(parents=True)
    (tables / "rows-0.db" / "000001.sst").write_bytes(b"rows")
    return tables


def test_state_left_by_a_run_that_did_not_stop_cleanly_is_removed(tmp_path: Path) -> None:
    tables = _state(tmp_path)
    assert claim(tmp_path, tables) is False
    assert not tables.exists()


def test_state_of_a_clean_stop_is_kept_and_the_mark_is_taken_back_for_the_new_run(tmp_path: Path) -> None:
    tables = _state(tmp_path)
    mark_clean(tmp_path)
    assert stat.S_IMODE((tmp_path / CLEAN_STOP).stat().st_mode) == 0o600
    assert claim(tmp_path, tables) is True
    assert (tables / "rows-0.db" / "000001.sst").read_bytes() == b"rows"
    assert not (tmp_path / CLEAN_STOP).exists()  # this run, if killed, leaves no mark
    assert claim(tmp_path, tables) is False  # killed: the next start removes what it left


def test_a_first_start_has_nothing_to_remove(tmp_path: Path) -> None:
    assert claim(tmp_path, tmp_path / "v1" / "tables") is True
