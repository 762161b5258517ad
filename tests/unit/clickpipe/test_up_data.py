"""``clickpipe up``'s demo key: made once, kept private, the same on every run."""

from __future__ import annotations

import stat
from pathlib import Path

from clickpipe.up import DEMO_KEY_FILE, demo_key


def test_the_demo_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    producer_dir = tmp_path / "data" / "producer"
    first = demo_key(producer_dir)
    assert first.startswith("cpk_")
    assert demo_key(producer_dir) == first
    assert stat.S_IMODE((producer_dir / DEMO_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(producer_dir.stat().st_mode) == 0o700
