"""Shared fixtures: a migrated database per test on SQLite, and on PostgreSQL when DCC_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import dcc.bootstrap  # noqa: F401  (wires the signed-document guard to the audit service, as the app does)
from dcc.adapters.db.engine import make_engine
from dcc.adapters.db.models import Base
from dcc.bootstrap import migrate
from dcc.services.referentials import BASELINE_SOURCE, load_baseline
from dcc.services.uow import Database
from tests.db_state import SavedStates

REFERENTIAL_TABLES = ("referential_prefix", "referential_token", "regional_guideline", "referential_concept",
                      "referential_version")
# the baseline referentials as `dcc db upgrade` loaded them in the session's PostgreSQL database, copied once into
# this schema (parents first, the order they are restored in): a test that imported a version gets them back by an
# INSERT … SELECT on the server (~0.5 s) instead of a new load through the ORM (110 000 rows, ~9 s under load)
BASELINE_SCHEMA = "dcc_test_baseline"
BASELINE_COPY_ORDER = ("referential_version", "referential_concept", "referential_token", "referential_prefix",
                       "regional_guideline")
SERIAL_IDS = ("referential_concept", "referential_token")


def _baseline_count() -> int:
    import json
    from importlib import resources

    return len(json.loads(resources.files("dcc.data").joinpath("valuesets.json").read_text(encoding="utf-8")))


PG_URL = os.environ.get("DCC_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# Under pytest-xdist (`make test JOBS=2` runs `-n 2 --dist loadscope`), each worker is its own session: its own
# SQLite template, its own PostgreSQL database (a fresh name per session, below), its own tmp dirs. A test
# module goes whole to one worker (its module-scoped set-ups run once); these modules share the session-scoped
# `demo_run` of tests/e2e/conftest.py, so they go to the same worker and the demo runs once.
SHARED_SCOPES = {f"tests/e2e/{name}.py": "tests/e2e/demo-run"
                 for name in ("test_demo", "test_demo_mhd", "test_logs_privacy", "test_demo_tls",
                              "test_demo_xds_signatures")}
# The longest modules go first (longest processing time first): the workers share them out at the start
# instead of one worker running the production shape while the other waits at the end (xdist's own order puts
# the scopes with the most tests first). Approximate seconds on the 2-core machine, quiet, in the suite.
FIRST = ("tests/integration/test_production_shape.py",  # ~200 s: Prefect server, workers, two SIGKILLs
         "tests/e2e/test_demo.py", "tests/e2e/test_demo_mhd.py", "tests/e2e/test_logs_privacy.py",
         "tests/e2e/test_demo_tls.py", "tests/e2e/test_demo_xds_signatures.py",  # one demo run, ~100 s
         "tests/services/test_generation_dask.py", "tests/services/test_delivery_kill.py",
         "tests/e2e/test_backup_drill.py", "tests/e2e/test_week_journey.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_SCOPES.get(module) or super()._split_scope(nodeid)

    config.option.loadscopereorder = False  # the collection's order (below) is the order work is handed out
    return SharedSetupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (each worker collects the same items in the same order): the FIRST modules first."""
    if not hasattr(config, "workerinput"):
        return
    rank = {module: i for i, module in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(FIRST)))  # stable: the rest keep theirs


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    migrate(f"sqlite:///{path}")  # as `dcc db upgrade`: migrations and the package's baseline referentials
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated, dropped at the end."""
    if not PG_URL:
        pytest.skip("DCC_TEST_DATABASE_URL not set: PostgreSQL tests run on CI (see .ci/run)")
    base = make_url(PG_URL)
    name = f"dcc_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    migrate(url)
    copy_baseline(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database (SQLite file copied from a template, or PostgreSQL truncated)."""
    if request.param == "sqlite":
        path = tmp_path / "dcc.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    url = request.getfixturevalue("pg_database_url")
    db = Database(url)
    reset_postgresql(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def saved_states(tmp_path_factory: pytest.TempPathFactory) -> SavedStates:
    """States built once per session and backend, put back for each test that needs them (tests/db_state.py)."""
    return SavedStates(tmp_path_factory.mktemp("states"))


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "dcc.sqlite3"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


def kit_dir() -> Path | None:
    from dcc.adapters.cda.validate import find_kit

    return find_kit()


def reset_postgresql(db: Database) -> None:
    """Empty a migrated PostgreSQL test database, keeping the baseline referentials (reloaded when a test
    imported a version)."""
    with db.engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name not in REFERENTIAL_TABLES)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))  # row triggers do not fire
        # the baseline referentials stay loaded unless a test imported a version (then loaded again)
        if conn.execute(text("SELECT count(*) FROM referential_version WHERE source <> :s OR imported_by <> :a"),
                        {"s": BASELINE_SOURCE, "a": "dcc db upgrade"}).scalar() or conn.execute(
                text("SELECT count(*) FROM referential_version")).scalar() != _baseline_count():
            conn.execute(text(f"TRUNCATE {', '.join(REFERENTIAL_TABLES)} RESTART IDENTITY CASCADE"))
            reload = True
        else:
            reload = False
    if reload and not restore_baseline(db):
        with db.uow() as uow:
            load_baseline(uow, actor="dcc db upgrade", today=date.today())


def copy_baseline(url: str) -> None:
    """Keep a copy of the freshly migrated database's baseline referentials (BASELINE_SCHEMA)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{BASELINE_SCHEMA}"'))
            for table in BASELINE_COPY_ORDER:
                conn.execute(text(f'CREATE TABLE "{BASELINE_SCHEMA}"."{table}" AS TABLE public."{table}"'))
    finally:
        engine.dispose()


def restore_baseline(db: Database) -> bool:
    """Put back the baseline referentials copied by `copy_baseline` into the (emptied) referential tables, with
    their very rows and ids; False when the database has no copy."""
    with db.engine.begin() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": f"{BASELINE_SCHEMA}.referential_version"}).scalar() \
                is None:
            return False
        for table in BASELINE_COPY_ORDER:
            conn.execute(text(f'INSERT INTO public."{table}" SELECT * FROM "{BASELINE_SCHEMA}"."{table}"'))
        for table in SERIAL_IDS:  # the next id after the copied ones, as after the load
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('public.{table}', 'id'), "
                              f"COALESCE(max(id), 1), max(id) IS NOT NULL) FROM public.\"{table}\""))
    return True
