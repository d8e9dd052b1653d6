"""Referential search over a CIM-10-sized synthetic corpus (~40,000 codes), SQLite and PostgreSQL when
DCC_TEST_DATABASE_URL is set (a database created for the run). Figures only; sanity checks, no timing."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

from dcc.adapters.db.engine import make_engine
from dcc.bench.referentials import run
from tests.benchmarks.benchutil import assert_positive, report


def test_bench_referentials() -> None:
    pg = os.environ.get("DCC_TEST_DATABASE_URL", "")
    url = None
    admin = None
    if pg:
        base = make_url(pg)
        name = f"dcc_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    try:
        figures = run(n=40000, rounds=2, pg_url=url)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    report("referentials", figures)
    for backend in ["sqlite"] + (["postgresql"] if pg else []):
        f = figures[backend]
        assert f["codes"] == 40000 and f["tokens"] > f["codes"]
        assert f["queries_with_hits"] > f["queries"] // 2
        assert_positive(f, "p50_ms", "p95_ms", "p99_ms", "best_of_rounds_p95_ms", "import_s", "import_before_s")
        assert f["prefix_rows"] > f["tokens"]
    if pg:
        assert_positive(figures["postgresql_over_sqlite"], "p95_ms", "import_s")
