"""`dcc bench web` on SQLite (1 worker) and, when DCC_TEST_DATABASE_URL is set, PostgreSQL (2 workers, as
deploy/ runs uvicorn): 32 clients for 60 s. Prints the figures; asserts no server error, no timeout and an
intact audit chain holding every served case read (never a timing)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dcc.adapters.db.engine import make_engine
from dcc.bench.web import run
from tests.benchmarks.benchutil import assert_positive, report

PG_URL = os.environ.get("DCC_TEST_DATABASE_URL", "")


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("DCC_TEST_DATABASE_URL not set")
    base = make_url(PG_URL)
    name = f"dcc_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _check(name: str, figures: dict[str, object]) -> None:
    report(name, figures)
    assert_positive(figures, "requests_per_s", "p95_ms")
    assert figures["server_errors"] == 0, figures["statuses"]
    assert figures["timeouts"] == 0, figures["statuses"]
    audit = figures["audit"]
    assert isinstance(audit, dict)
    assert audit["chain_intact"] and audit["case_reads_missing_in_trail"] == 0, audit


def test_bench_web_sqlite() -> None:
    _check("web-sqlite", run(32, 60.0, workers=1))


def test_bench_web_postgresql(fresh_pg: str) -> None:
    _check("web-postgresql", run(32, 60.0, database_url=fresh_pg, workers=2))
