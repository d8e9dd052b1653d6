"""PAdES sign / verify cost per document next to the document pipeline (issue 5). Sanity only."""

from __future__ import annotations

from dcc.bench.signing import run
from tests.benchmarks.benchutil import assert_positive, report


def test_bench_signing() -> None:
    figures = run(10)
    report("signing", figures)
    keys = ("sign_ms_per_doc", "verify_ms_per_doc", "pipeline_ms_per_doc", "sign_share_of_pipeline")
    assert set(figures) >= set(keys)
    assert figures["verified_ok"] == figures["n"] >= 10
    assert_positive(figures, *keys)
