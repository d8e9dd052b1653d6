"""Document pipeline vs WeasyPrint floor (issue 4). Prints figures; asserts only their sanity."""

from __future__ import annotations

from dcc.bench.documents import run
from tests.benchmarks.benchutil import assert_positive, report

N = 16


def test_bench_documents_one_worker() -> None:
    figures = run(N, 1)
    report("documents", figures)
    assert set(figures) >= {"docs_per_s", "floor_docs_per_s", "ratio", "workers", "peak_rss_mb", "n"}
    assert figures["workers"] == 1 and figures["n"] >= N and figures["refused"] == 0
    assert figures["floor_processes"] == 1
    assert_positive(figures, "docs_per_s", "floor_docs_per_s", "ratio", "peak_rss_mb")


def test_bench_documents_two_workers() -> None:
    """Shared SQLite database (the real setting) and one database per worker (no write contention)."""
    for per_worker in (False, True):
        figures = run(N, 2, floor=False, db_per_worker=per_worker)
        report("documents-2-workers" + ("-db-per-worker" if per_worker else ""), figures)
        assert figures["workers"] == 2 and figures["n"] >= N and figures["refused"] == 0
        assert len(figures["peak_rss_mb_per_worker"]) == 2
        assert_positive(figures, "docs_per_s", "docs_per_s_1_worker", "speedup_vs_1_worker", "peak_rss_mb")
