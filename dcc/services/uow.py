"""Unit of work: one database transaction per use case. Services are the only place that commits."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dcc.adapters.db.engine import ensure_migrated, make_engine


class UnitOfWork:
    """`shared`: objects kept per database for the services (the audit's group appender), given by `Database`."""

    def __init__(self, session_factory: Callable[[], Session], *, shared: dict[str, Any] | None = None) -> None:
        self._factory = session_factory
        self._session: Session | None = None
        self.shared: dict[str, Any] = shared if shared is not None else {}

    def fresh(self) -> UnitOfWork:
        """Another unit of work on the same database (its own session and transaction)."""
        return UnitOfWork(self._factory, shared=self.shared)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside `with`")
        return self._session

    def __enter__(self) -> Self:
        self._session = self._factory()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._session is not None
        try:
            self._session.rollback()
        finally:
            self._session.close()
            self._session = None

    def release(self) -> None:
        """End the open transaction, if any, rolling back what was not committed, and give the connection back
        to the pool; the loaded objects stay readable (detached, not expired). The unit of work stays usable."""
        if self._session is not None and self._session.in_transaction():
            self._session.close()

    def idle(self) -> bool:
        """True when no transaction is open (nothing to roll back: closing does no I/O)."""
        return self._session is None or not self._session.in_transaction()

    def commit(self) -> None:
        self.session.commit()

    def writes_in_read_transaction(self) -> bool:
        """True when a transaction begun to read may write as well (PostgreSQL); False on SQLite, where
        upgrading a read transaction to a write one fails at once if another writer committed meanwhile."""
        return self.session.get_bind().dialect.name != "sqlite"

    def begin_write(self) -> None:
        """Start the next transaction as a write transaction: on SQLite `BEGIN IMMEDIATE` takes the write
        lock up front, so a read-then-write cannot fail with "database is locked" half-way; elsewhere a no-op."""
        if self.session.in_transaction():
            self.session.rollback()
        self.session.connection(execution_options={"dcc_begin": "IMMEDIATE"})

    def rollback(self) -> None:
        self.session.rollback()


class Database:
    """Engine + session factory; `uow()` gives a fresh unit of work."""

    def __init__(self, url: str, *, check_migrated: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        if check_migrated:
            ensure_migrated(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.shared: dict[str, Any] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessions, shared=self.shared)

    def ensure_migrated(self) -> None:
        """Refuse (DatabaseNotMigrated) a database that is not at the latest migration."""
        ensure_migrated(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
