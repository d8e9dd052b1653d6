"""`dcc bench national-day` (issue 14) with a small N on PostgreSQL: prints the per-stage and end-to-end
figures; asserts only that every document went through every stage (never a timing)."""

from __future__ import annotations

from dcc.bench.national_day import run
from tests.benchmarks.benchutil import assert_positive, report

N = 30


def test_bench_national_day() -> None:
    figures = run(N, 2)
    report("national-day", figures)
    assert figures["docs"] >= N and figures["signed"] == figures["docs"] and figures["refused"] == 0
    assert figures["stored_by_simulator"] == figures["docs"]  # each Fiche RCP once in the national record
    assert figures["dead"] == 0 and set(figures["outbox_by_state"]) == {"delivered"}
    assert figures["delivered_messages"] == figures["stored_by_simulator"] + figures["mssante_messages"]
    assert_positive(figures, "generate_docs_per_s", "sign_docs_per_s", "deliver_messages_per_s",
                    "end_to_end_docs_per_s")
