"""The database settings: one URL (or a file holding it, a Docker secret) chooses PostgreSQL; its password
never shows in an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from producer.errors import SettingsError
from producer.main import settings_environment
from producer.postgres_store import redacted
from producer.settings import ProducerSettings

URL = "postgresql://clickpipe:s3cret-pw@db.internal:5432/clickpipe"


def test_unset_means_the_sqlite_file() -> None:
    assert ProducerSettings().postgres_url() is None


def test_the_url_from_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKPIPE_PRODUCER_DATABASE_URL", URL)
    settings = ProducerSettings()
    assert settings.postgres_url() == URL
    assert "s3cret-pw" not in repr(settings)


def test_the_url_from_a_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "database_url"
    secret.write_text(URL + "\n")
    monkeypatch.setenv("CLICKPIPE_PRODUCER_DATABASE_URL_FILE", str(secret))
    assert ProducerSettings().postgres_url() == URL


def test_a_file_that_is_no_url_is_named_without_its_content(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text("s3cret-pw")
    with pytest.raises(SettingsError) as bad:
        ProducerSettings(database_url_file=secret).postgres_url()
    assert str(secret) in str(bad.value) and "s3cret-pw" not in str(bad.value)
    with pytest.raises(SettingsError, match="cannot read"):
        ProducerSettings(database_url_file=tmp_path / "missing").postgres_url()


def test_a_bad_url_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as bad:
        ProducerSettings(database_url="mysql://root:s3cret-pw@db/x")  # type: ignore[arg-type]
    assert "postgresql://" in str(bad.value) and "s3cret-pw" not in str(bad.value)


def test_url_and_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not both"):
        ProducerSettings(database_url=URL, database_url_file=tmp_path / "f")  # type: ignore[arg-type]


def test_worker_processes_get_the_url_itself() -> None:
    settings = ProducerSettings(database_url=URL)  # type: ignore[arg-type]
    environment = settings_environment(settings)
    assert environment["CLICKPIPE_PRODUCER_DATABASE_URL"] == URL


def test_redacted_urls_keep_all_but_the_password() -> None:
    assert redacted(URL) == "postgresql://clickpipe:***@db.internal:5432/clickpipe"
    assert redacted("postgresql://db/x") == "postgresql://db/x"
