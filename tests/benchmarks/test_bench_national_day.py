"""`dcc bench national-day` (issue 14) with a small N on PostgreSQL: prints the per-stage and end-to-end
figures, on the production shape (Prefect server, 2 process workers, flow runs) and on the in-process
pipeline (the same services, no Prefect) to compare; asserts only that every document went through every
stage and that Prefect's timings were read (never a timing threshold)."""

from __future__ import annotations

from dcc.bench import national_day, national_shape
from tests.benchmarks.benchutil import assert_positive, report

N = 30


def test_bench_national_day_production_shape() -> None:
    figures = national_shape.run(N, 2)
    report("national-day-production-shape", figures)
    assert figures["docs"] == N and figures["signed"] == N
    assert figures["generation_tasks_by_state"] == {"done": N}
    assert figures["stored_by_simulator"] == N, "each Fiche RCP once in the national record"
    assert figures["outbox_by_state"] == {"delivered": figures["delivered_messages"]} and not figures["dead_reasons"]
    assert figures["delivered_messages"] == figures["stored_by_simulator"] + figures["mssante_messages"]
    for stage in ("generate", "deliver"):
        prefect = figures["prefect"][stage]
        assert prefect["runs"] >= 2 and prefect["task_runs"] == prefect["runs"] and prefect["work_s"] > 0
    assert_positive(figures, "generate_docs_per_s", "sign_docs_per_s", "deliver_messages_per_s",
                    "end_to_end_docs_per_s", "prefect_overhead_pct_of_work")


def test_bench_national_day_in_process() -> None:
    figures = national_day.run(N, 2)
    report("national-day-in-process", figures)
    assert figures["docs"] >= N and figures["signed"] == figures["docs"] and figures["refused"] == 0
    assert figures["stored_by_simulator"] == figures["docs"]  # each Fiche RCP once in the national record
    assert figures["dead"] == 0 and set(figures["outbox_by_state"]) == {"delivered"}
    assert figures["delivered_messages"] == figures["stored_by_simulator"] + figures["mssante_messages"]
    assert_positive(figures, "generate_docs_per_s", "sign_docs_per_s", "deliver_messages_per_s",
                    "end_to_end_docs_per_s")
