"""PostgreSQL: pooled connections are checked only when they sat idle (`DCC_DB_PING_IDLE_S`), not at every
checkout. A connection the server dropped (as a restart or a failover does: its backend terminated) is replaced
before use when it was idle; one used just before answers 503 (`DatabaseDisconnected`, French, Retry-After)
once, and the next request gets a renewed pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from dcc.config import get_settings
from dcc.errors import DatabaseDisconnected
from dcc.services import queries
from dcc.services.uow import Database


@pytest.fixture
def pg_url(pg_database_url: str) -> str:
    return pg_database_url


def _database(url: str, idle_s: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("DCC_DB_PING_IDLE_S", idle_s)
    get_settings.cache_clear()
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()
        get_settings.cache_clear()


def _server_drops_the_pool(db: Database) -> int:
    """Terminate this pool's server connections from another connection (what a restart does to them)."""
    with db.engine.connect() as conn:
        pids = set(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND application_name = 'dcc-liveness-test'")).scalars())
        own = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = Database(db.url, check_migrated=False)
    try:
        with admin.engine.connect() as conn:
            for pid in pids | {own}:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()
    return len(pids | {own})


def _tagged(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "application_name=dcc-liveness-test"


def _ping(db: Database) -> None:
    with db.uow() as uow:
        queries.ping(uow)


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for db in _database(_tagged(pg_url), "0", monkeypatch):  # every connection counts as idle
        _ping(db)
        assert _server_drops_the_pool(db) >= 1
        _ping(db)  # checked at checkout, replaced: no error
        _ping(db)


def test_a_busy_connection_lost_meanwhile_answers_503_once_then_the_pool_is_renewed(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for db in _database(_tagged(pg_url), "3600", monkeypatch):  # never idle long enough to be checked
        _ping(db)
        _server_drops_the_pool(db)
        with pytest.raises(DatabaseDisconnected) as caught:
            _ping(db)
        assert caught.value.status_code == 503 and caught.value.retry_after == 2
        assert "réessayez" in caught.value.message
        _ping(db)  # the pool was renewed
