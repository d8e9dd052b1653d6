"""Saved database states of a test session: an expensive set-up (a document chain generated and signed, a
seeded directory with its sessions) is built once per session and backend by the first test that needs it,
saved, and put back for the next tests instead of being built again.

What a test gets back is the very database the build left (every row, the same ids, the sequences where they
were), on an emptied database of the `database` fixture:
- SQLite: the saved file is copied page by page over the test's database (sqlite3's backup API);
- PostgreSQL: each table's rows are kept in a schema of their own (`CREATE TABLE … AS TABLE`), and inserted
  back after the fixture's TRUNCATE with triggers off (`session_replication_role = replica`: the rows are
  copies of rows the triggers already accepted), then each serial sequence is set after its table's ids.

Files that go with a state (a demo PKI directory) are saved and restored by the caller. Not a conftest.py:
tests/conftest.py and tests/services/conftest.py use it."""

from __future__ import annotations

import copy
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dcc.adapters.db.models import Base
from dcc.services.uow import Database

REFERENTIAL_TABLES = ("referential_prefix", "referential_token", "regional_guideline", "referential_concept",
                      "referential_version")  # kept loaded by the `database` fixture, not part of a state


def _tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables if t.name not in REFERENTIAL_TABLES]


def _sqlite_path(db: Database) -> str:
    path = db.engine.url.database
    assert path, "a SQLite database file"
    return path


def _copy_sqlite(source: str, target: str) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@dataclass
class SavedStates:
    """The states saved in this session (per backend and name), under `root` (SQLite files) or in PostgreSQL
    schemas of the session's database."""

    root: Path
    saved: dict[tuple[str, str], Any] = field(default_factory=dict)  # (backend, name) -> what the build returned

    def _schema(self, name: str) -> str:
        assert re.fullmatch(r"[a-z0-9_]+", name), name
        return f"dcc_test_state_{name}"

    def folder(self, db: Database, name: str) -> Path:
        """Where the files that go with the state `name` of `db`'s backend are kept."""
        return self.root / f"{db.engine.dialect.name}-{name}"

    def save(self, db: Database, name: str, value: Any = None) -> None:
        """Save `db`'s rows as the state `name`, with `value` (what its build returned: ids, …)."""
        backend = db.engine.dialect.name
        if backend == "sqlite":
            self.root.mkdir(parents=True, exist_ok=True)
            _copy_sqlite(_sqlite_path(db), str(self.root / f"{name}.sqlite3"))
        else:
            schema = self._schema(name)
            with db.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                for table in _tables():
                    conn.execute(text(f'CREATE TABLE "{schema}"."{table}" AS TABLE public."{table}"'))
        self.saved[(backend, name)] = copy.deepcopy(value)

    def restore(self, db: Database, name: str) -> tuple[bool, Any]:
        """Put the saved state `name` back into `db` (as the `database` fixture left it: empty); returns (True,
        a copy of the value saved with it), or (False, None) when this session has not saved it yet."""
        backend = db.engine.dialect.name
        if (backend, name) not in self.saved:
            return False, None
        value = copy.deepcopy(self.saved[(backend, name)])
        if backend == "sqlite":
            db.engine.dispose()  # no connection left on the file while its pages are replaced
            _copy_sqlite(str(self.root / f"{name}.sqlite3"), _sqlite_path(db))
            return True, value
        schema = self._schema(name)
        tables = _tables()
        with db.engine.begin() as conn:
            if not conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
                return False, None  # triggers can only be set aside by a superuser: the caller builds anew
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                conn.execute(text(f'INSERT INTO public."{table}" SELECT * FROM "{schema}"."{table}"'))
            serials = conn.execute(text(
                "SELECT table_name, column_name, pg_get_serial_sequence(format('public.%I', table_name), "
                "column_name) FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = ANY(:tables) AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')"),
                {"tables": tables}).all()
            for table, column, sequence in serials:
                conn.execute(text(f'SELECT setval(:seq, COALESCE(max("{column}"), 1), max("{column}") IS NOT NULL) '
                                  f'FROM public."{table}"'), {"seq": sequence})
        return True, value


def save_dir(source: Path, target: Path) -> None:
    """Keep a copy of a state's folder (nothing when it does not exist)."""
    shutil.rmtree(target, ignore_errors=True)
    if source.exists():
        shutil.copytree(source, target)


def restore_dir(saved: Path, target: Path) -> None:
    if saved.exists():
        shutil.copytree(saved, target, dirs_exist_ok=True)
