"""Min-cost-flow assignment vs greedy on a synthetic region (issue 3). Sanity only."""

from __future__ import annotations

from dcc.bench.assignment import run
from tests.benchmarks.benchutil import report


def test_bench_assignment() -> None:
    figures = run(cases=20000, sessions=1000, weeks=8)
    report("assignment", figures)
    assert figures["objective"] <= figures["greedy_objective"]
    # exact method: the evidence is the agreement with exhaustive enumeration on small sub-instances
    assert figures["brute_force_instances"] >= 50
    assert figures["brute_force_agree"] == figures["brute_force_instances"]
    assert "gap" not in figures
