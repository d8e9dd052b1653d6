"""Engine creation (SQLite pragmas), migrations (Alembic, packaged in dcc/migrations) and the guard that
refuses to run on an unmigrated database."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from dcc.errors import DatabaseBusy, DatabaseDisconnected, DatabaseNotMigrated, ValidationFailed

log = logging.getLogger("dcc.db")

VALUE_REFUSED = ("Une valeur de la requête n'est pas acceptable (caractère ou nombre hors limites).")


def _busy_error(exc: BaseException | None) -> bool:
    """A bounded wait for a lock ran out: SQLite's busy timeout ("database is locked"), PostgreSQL's
    lock_timeout (55P03) or a deadlock victim (40P01). The request may simply be tried again."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    return getattr(exc, "sqlstate", None) in ("55P03", "40P01")


class BoundedPool(QueuePool):
    """The connection pool: when no connection frees up within `pool_timeout`, `DatabaseBusy` (503 with
    Retry-After) rather than the library's own timeout error."""

    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"  # its log lines stay SQLAlchemy's (not dcc.*)

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except sa_exc.TimeoutError as exc:
            raise DatabaseBusy() from exc


def _pool_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    from dcc.config import get_settings

    s = get_settings()
    return {"poolclass": BoundedPool, "pool_size": s.db_pool_size, "max_overflow": s.db_max_overflow,
            "pool_timeout": s.db_pool_timeout_s, **kwargs}


def _raise_busy(ctx: Any) -> None:
    """Errors the caller can answer without knowing the database library: a bounded lock wait that ran out
    (`DatabaseBusy`, 503) and a value the database refuses (`ValidationFailed`, 422: a number out of range,
    a character the column cannot hold)."""
    if _busy_error(ctx.original_exception):
        raise DatabaseBusy() from ctx.sqlalchemy_exception
    if ctx.is_disconnect and ctx.engine is not None and ctx.engine.dialect.name == "postgresql":
        raise DatabaseDisconnected() from ctx.sqlalchemy_exception  # the pool is renewed: 503, try again
    if isinstance(ctx.sqlalchemy_exception, sa_exc.DataError):
        log.warning("database refused a value: %s", type(ctx.original_exception).__name__)
        raise ValidationFailed(VALUE_REFUSED) from ctx.sqlalchemy_exception


def make_engine(url: str, **kwargs: Any) -> Engine:
    """The engine of `url`, sized for the web server: a pool of DCC_DB_POOL_SIZE (+ overflow) connections
    waited on at most DCC_DB_POOL_TIMEOUT_S, and lock waits bounded by DCC_DB_BUSY_TIMEOUT_MS (SQLite
    busy_timeout, PostgreSQL lock_timeout). A wait that runs out raises `DatabaseBusy` (503, Retry-After)."""
    from dcc.config import get_settings

    busy_ms = get_settings().db_busy_timeout_ms
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = not parsed.database or parsed.database == ":memory:"
        if not memory:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
            kwargs = _pool_options(kwargs)
        engine = create_engine(url, connect_args={"timeout": busy_ms / 1000, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, emit BEGIN (so BEGIN IMMEDIATE works for claims).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            # WAL: readers never wait for the writer nor block it; a writer waits at most busy_timeout for
            # the single write lock. synchronous=NORMAL is durable across application crashes in WAL mode.
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={busy_ms}"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        # The writers of this process queue on a lock of their own before `BEGIN IMMEDIATE`: they are then
        # served in turn as soon as the lock is free, instead of polling SQLite's busy handler (which sleeps
        # up to 100 ms between tries and lets a writer starve past the busy timeout under load). The wait
        # is bounded by the same timeout. Other processes (flows, CLI) still meet at SQLite's own lock.
        # The lock is let go once the COMMIT or ROLLBACK is done, not when SQLAlchemy announces it (its
        # "commit" event comes before the statement): the next writer's BEGIN IMMEDIATE would otherwise meet
        # SQLite's lock still held and sleep in the busy handler.
        write_lock = threading.Lock()
        holder: list[Any] = [None]  # the DBAPI connection holding `write_lock`

        def _raw(connection: Any) -> Any:
            return getattr(connection, "dbapi_connection", connection)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = conn.info.pop("dcc_begin", "") or conn.get_execution_options().get("dcc_begin", "")
            raw = conn.connection.dbapi_connection
            if mode == "IMMEDIATE" and holder[0] is not raw:
                if not write_lock.acquire(timeout=busy_ms / 1000):
                    raise DatabaseBusy()
                holder[0] = raw
            try:
                if mode:
                    conn.exec_driver_sql(f"BEGIN {mode}")
                else:  # a read transaction cannot meet a lock: straight to the driver (a third of the cost)
                    raw.execute("BEGIN")
            except BaseException:
                _release(raw)
                raise

        def _release(raw: Any) -> None:
            if raw is not None and holder[0] is raw:
                holder[0] = None
                write_lock.release()

        dialect = engine.dialect
        do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

        def _commit_then_release(connection: Any) -> None:
            try:
                do_commit(connection)
            finally:
                _release(_raw(connection))

        def _rollback_then_release(connection: Any) -> None:
            try:
                do_rollback(connection)
            finally:
                _release(_raw(connection))

        dialect.do_commit = _commit_then_release  # type: ignore[method-assign,assignment]
        dialect.do_rollback = _rollback_then_release  # type: ignore[method-assign,assignment]
        # a connection returned or dropped without either (pool reset disabled, invalidated): let go too
        event.listen(engine, "checkin", lambda dbapi, _record: _release(dbapi))
        event.listen(engine, "close", lambda dbapi, _record: _release(dbapi))

        event.listen(engine, "handle_error", _raise_busy)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs = _pool_options(kwargs)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("options", f"-c lock_timeout={busy_ms}")
        kwargs["connect_args"] = connect_args
        kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
        engine = create_engine(url, **kwargs)
        _ping_when_idle(engine, get_settings().db_ping_idle_s)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "handle_error", _raise_busy)
    return engine


POOL_RECYCLE_S = 1800  # PostgreSQL: a connection is replaced after half an hour whatever its use


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection before use only when it sat idle longer than `idle_s` seconds (SQLAlchemy's
    `pool_pre_ping` checks it at every checkout: one more round trip for every request, and under load each
    round trip is also a wait for the interpreter lock). A connection the server dropped (restart, failover,
    idle timeout) while the application was quiet is replaced before use; one used within `idle_s` is not
    checked: if it was lost meanwhile, its request answers 503 (`DatabaseDisconnected`) and SQLAlchemy renews
    the whole pool."""

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get("dcc_used")
        if last is None or time.monotonic() - last <= idle_s:
            return
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:  # the pool discards this connection and checks out another (or a new one)
            raise sa_exc.DisconnectionError() from exc

    @event.listens_for(engine, "checkin")
    def _used(_dbapi_conn: Any, record: Any) -> None:
        record.info["dcc_used"] = time.monotonic()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("dcc") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    make_engine(url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_migrated(engine: Engine) -> None:
    """Refuse to start on a database that is not at the latest migration."""
    url = engine.url.render_as_string(hide_password=False)
    current, head = current_revision(engine), head_revision(url)
    if current != head:
        raise DatabaseNotMigrated(
            f"La base de données n'est pas à jour (version {current or 'vide'}, attendue {head}). "
            "Lancez `dcc db upgrade` avant de démarrer."
        )
