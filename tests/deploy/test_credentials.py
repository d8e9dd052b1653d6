"""Secrets outside YAML and environment files: under systemd, `LoadCredential=dcc_database_url:…` puts a file
in $CREDENTIALS_DIRECTORY that the settings read as DCC_DATABASE_URL (deploy/README.md, section 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcc.config import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> object:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_systemd_credential_is_read_as_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dcc_database_url").write_text("postgresql+psycopg://dcc:s3cret@db.invalid/dcc\n")
    (tmp_path / "dcc_oidc_client_secret").write_text("client-s3cret")
    monkeypatch.delenv("DCC_DATABASE_URL", raising=False)
    monkeypatch.delenv("DCC_OIDC_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = get_settings()
    assert settings.database_url == "postgresql+psycopg://dcc:s3cret@db.invalid/dcc"
    assert settings.oidc_client_secret == "client-s3cret"


def test_without_credentials_the_environment_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DCC_DATABASE_URL", "sqlite:///x.sqlite3")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "absent"))
    assert get_settings().database_url == "sqlite:///x.sqlite3"
