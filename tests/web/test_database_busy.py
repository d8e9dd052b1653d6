"""SQLite under a writer that does not let go: a request that must write waits the bounded busy timeout,
then answers a French 503 with Retry-After (never a 500, never a long hang), and writes nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.config import get_settings
from dcc.services.seed import seed_directory
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.auth import issue_dev_token
from tests.web.helpers_web import TEST_LOGIN, web_settings


@pytest.fixture
def busy_db(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("DCC_DB_BUSY_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    path = tmp_path / "dcc.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()
    get_settings.cache_clear()


def test_a_write_blocked_by_another_writer_answers_503_in_french_with_retry_after(busy_db: Database) -> None:
    settings = web_settings()
    with busy_db.uow() as uow:
        seed_directory(uow, seed=1, regions=1)
        region = repo.region_by_code(uow.session, "A")
        assert region is not None
        uow.session.add(m.AppUser(login=TEST_LOGIN, role="coordinator", region_id=region.id,
                                  display_name="Coordination régionale (tests)", active=True))
        uow.commit()
    with busy_db.engine.connect() as conn:
        session_id = conn.execute(text("SELECT id FROM session LIMIT 1")).scalar() or "seance-inconnue"
        before = conn.execute(text("SELECT COUNT(*) FROM audit_event")).scalar()
    app = create_app(database=busy_db, settings=settings)
    other = sqlite3.connect(busy_db.engine.url.database or "", isolation_level=None)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {issue_dev_token(TEST_LOGIN, settings=settings)}"
            assert client.get("/api/v1/boards").status_code == 200  # reads do not wait for the writer
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            answer = client.post(f"/api/v1/sessions/{session_id}/attendance", json={"attendance": {}})
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "2"
            assert answer.json()["code"] == "base_occupee"
            assert "réessayez" in answer.json()["message"]
            other.execute("ROLLBACK")
            assert client.get("/api/v1/boards").status_code == 200
    finally:
        other.close()
    with busy_db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_event")).scalar() == before


def test_no_free_connection_within_the_pool_timeout_answers_503_in_french(
        sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("DCC_DB_POOL_SIZE", "1"), ("DCC_DB_MAX_OVERFLOW", "0"), ("DCC_DB_POOL_TIMEOUT_S", "0.2")):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    path = tmp_path / "dcc.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    db = Database(f"sqlite:///{path}")
    settings = web_settings()
    try:
        with db.uow() as uow:
            seed_directory(uow, seed=1, regions=1)
            region = repo.region_by_code(uow.session, "A")
            assert region is not None
            uow.session.add(m.AppUser(login=TEST_LOGIN, role="coordinator", region_id=region.id,
                                      display_name="Coordination régionale (tests)", active=True))
            uow.commit()
        app = create_app(database=db, settings=settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {issue_dev_token(TEST_LOGIN, settings=settings)}"
            held = db.engine.connect()  # the pool's only connection
            try:
                held.execute(text("SELECT 1"))
                answer = client.get("/api/v1/boards")
            finally:
                held.close()
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "2"
            assert answer.json()["code"] == "base_occupee"
            assert client.get("/api/v1/boards").status_code == 200
    finally:
        db.dispose()
        get_settings.cache_clear()
