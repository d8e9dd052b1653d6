"""Min-cost-flow assignment vs greedy on a synthetic region (issue 3). Sanity only."""

from __future__ import annotations

from dcc.bench.assignment import run
from tests.benchmarks.benchutil import report


def test_bench_assignment() -> None:
    figures = run(cases=20000, sessions=1000, weeks=8)
    report("assignment", figures)
    assert figures["objective"] <= figures["greedy_objective"]
