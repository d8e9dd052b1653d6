"""Outbox delivery to the simulator vs a plain httpx loop (issue 6). Prints figures; sanity only."""

from __future__ import annotations

import pytest

from dcc.bench.delivery import run
from tests.benchmarks.benchutil import assert_positive, report

N = 200


@pytest.mark.parametrize("dispatchers", [1, 2])
def test_bench_delivery(dispatchers: int) -> None:
    figures = run(N, dispatchers)
    report(f"delivery-{dispatchers}-dispatcher{'s' if dispatchers > 1 else ''}", figures)
    assert set(figures) >= {"docs_per_s", "floor_docs_per_s", "ratio", "n", "dispatchers"}
    assert figures["delivered"] == N and figures["stored_by_simulator"] == N and figures["dead"] == 0
    assert 55 <= figures["cda_kb"] <= 65
    assert figures["floor_processes"] == dispatchers  # like with like
    assert_positive(figures, "docs_per_s", "floor_docs_per_s", "ratio")
