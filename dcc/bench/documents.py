"""Benchmark: document generation throughput (data → CDA + PDF/A → stored) against a WeasyPrint floor.

`run(n, workers)` builds, once, a SQLite database holding enough decided cases for `n` documents (the
demo's own services: directory, patients, sessions, registration, assignment, meetings), then measures,
each on a fresh copy of that database and in freshly spawned processes:

- the **floor**: WeasyPrint alone laying out the very same HTML (rendered beforehand with
  `PdfRenderer.render_html` from the very same contents) with the renderer's own stylesheet, font
  configuration and URL fetcher objects, in a plain loop, in as many processes as the pipeline has
  workers (each its share of the documents): the ratio compares N pipeline processes with N floor
  processes, like with like;
- the **pipeline**: `dcc.services.documents.generate_documents` over the decided cases, in batches of
  `BATCH` cases per unit of work (the production drain, `services.generation.generate_pending_documents`,
  commits one case per unit of work after leasing it: its queue bookkeeping is not measured here),
  split across `workers` processes, each with one renderer created once;
- with `workers > 1`, also the 1-worker pipeline, so the speed-up is printed next to the ratio.

Every process warms up (renderer created, one sample document laid out) before a shared start signal;
throughput is the documents produced divided by the wall time from the first start to the last finish
(`time.perf_counter` is CLOCK_MONOTONIC, comparable across processes on Linux).

Peak RSS is measured inside each pipeline process (its own high-water mark, see `_rss_mb`): the parent,
which built the database, would otherwise mask what the pipeline itself accumulates. Compare
`peak_rss_mb` across `--n` to see whether anything grows with the number of documents.

The figures are printed, never asserted against a threshold: a shared 2-core machine is noisy.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

BATCH = 25  # cases per unit of work (the queue drain commits one case per unit of work)
SEED = 1
TODAY = date(2026, 3, 2)  # a Monday: the synthetic planning is reproducible
START_TIMEOUT_S = 600.0
MAX_LOCK_RETRIES = 100_000


# ---------------------------------------------------------------- process harness (shared by the benches)


def _rss_mb() -> float:
    """Peak RSS of the calling process in MiB.

    Linux: `VmHWM` of /proc/self/status, the high-water mark of the current address space. Not
    `ru_maxrss`, which survives execve: a spawned child would start with its parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass(frozen=True)
class WorkerReport:
    items: int  # documents produced / requests sent
    started: float  # perf_counter at the start signal
    finished: float
    peak_rss_mb: float
    extra: dict[str, Any]


def _child_main(target: Callable[..., Any], args: tuple[Any, ...], ready: Any, start: Any, out: Any) -> None:
    """Runs in the spawned process: `target(*args)` returns a zero-argument `work` callable after its
    untimed preparation; `work()` is timed after the shared start signal and returns (items, extra)."""
    try:
        from dcc.logging import configure_logging

        # Per-document info lines on a terminal would measure the terminal; warnings still show.
        configure_logging(os.environ.get("DCC_BENCH_LOG_LEVEL", "WARNING"))
        work = target(*args)
        ready.put(("ready", None))
        if not start.wait(START_TIMEOUT_S):
            raise TimeoutError("start signal never came")
        t0 = time.perf_counter()
        items, extra = work()
        t1 = time.perf_counter()
        out.put(("ok", WorkerReport(items, t0, t1, _rss_mb(), extra)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        import traceback

        ready.put(("error", traceback.format_exc()))
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@dataclass(frozen=True)
class TimedRun:
    items: int
    wall_s: float
    reports: list[WorkerReport]

    @property
    def per_s(self) -> float:
        return self.items / self.wall_s if self.wall_s > 0 else 0.0


def run_in_processes(target: Callable[..., Any], args_per_process: Sequence[tuple[Any, ...]],
                     *, timeout_s: float = 3600.0) -> TimedRun:
    """Start one spawned process per argument tuple, wait until all are prepared, release them together,
    and return the total items over the wall time (first start → last finish)."""
    ctx = mp.get_context("spawn")  # no fork: each process builds its own renderer / engine / client
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_child_main, args=(target, args, ready, start, out), daemon=True)
             for args in args_per_process]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            status, detail = ready.get(timeout=START_TIMEOUT_S)
            if status != "ready":
                raise RuntimeError(f"benchmark process failed while preparing:\n{detail}")
        start.set()
        reports: list[WorkerReport] = []
        for _ in procs:
            status, detail = out.get(timeout=timeout_s)
            if status != "ok":
                raise RuntimeError(f"benchmark process failed: {detail}")
            reports.append(detail)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    wall = max(r.finished for r in reports) - min(r.started for r in reports)
    return TimedRun(sum(r.items for r in reports), wall, reports)


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """Contiguous, near-equal chunks."""
    size = math.ceil(len(items) / parts) if items else 0
    return [list(items[i * size:(i + 1) * size]) for i in range(parts)]


# ---------------------------------------------------------------- database with decided cases


def build_database(path: Path, n_docs: int, *, seed: int = SEED) -> list[str]:
    """A migrated SQLite database at `path` with decided cases; returns case ids yielding ≥ `n_docs`
    documents (an FRCP per case, plus a PPS for a discussed case with a treatment proposal)."""
    return build_cases(f"sqlite:///{path}", n_docs, seed=seed)


def build_cases(url: str, n_docs: int, *, seed: int = SEED, docs_per_patient: float = 0.7) -> list[str]:
    """`build_database` on any empty database URL (SQLite or PostgreSQL); `docs_per_patient`: the documents
    expected per patient seeded (`n_docs / docs_per_patient` patients: lower seeds more, a slower set-up)."""
    from dcc.adapters.db import repositories as repo
    from dcc.bootstrap import migrate
    from dcc.demo.data import REGIONS
    from dcc.services import boards, demo
    from dcc.services.seed import seed_directory, seed_patients
    from dcc.services.uow import Database

    migrate(url)
    db = Database(url)
    try:
        # one generated document (the Fiche RCP) per decided case, and ~80 % of the cases get decided (the
        # others miss their quorum or their session): 0.7 document per patient seeded leaves a margin. Sessions
        # get scarcer as cases grow: add regions (as many as the synthetic directory has), then weeks of
        # sessions (a region's boards take ~250 cases in 8 weeks).
        patients = math.ceil(n_docs / docs_per_patient) + 10
        regions = min(len(REGIONS), max(2, math.ceil(patients / 250)))
        weeks = max(8, math.ceil(8 * patients / (250 * regions)))
        with db.uow() as uow:
            seeded = seed_directory(uow, seed=seed, regions=regions)
            patient_ids = seed_patients(uow, seed=seed, count=patients, region_codes=seeded.regions)
            uow.commit()
        with db.uow() as uow:
            boards.plan_sessions(uow, today=TODAY, horizon_weeks=weeks)
            uow.commit()
        demo.register_demo_cases(db, patient_ids=patient_ids, seed=seed, today=TODAY)
        with db.uow() as uow:
            boards.assign_cases(uow, today=TODAY)
        meeting = demo.hold_meetings(db, seed=seed, today=TODAY)
        selected: list[str] = []
        docs = 0
        with db.uow() as uow:
            for case_id in meeting.decided_cases:
                if docs >= n_docs:
                    break
                decision = repo.decision_of_case(uow.session, case_id)
                if decision is None or not decision.locked:
                    continue
                selected.append(case_id)
                docs += 1  # the Fiche RCP (the PPS is authored, not generated)
        if docs < n_docs:
            raise RuntimeError(f"only {docs} documents from {len(meeting.decided_cases)} decided cases")
        return selected
    finally:
        db.dispose()


def copy_database(template: Path, dest: Path) -> str:
    shutil.copy(template, dest)
    return f"sqlite:///{dest}"


# ---------------------------------------------------------------- process targets (module level: picklable)


def _warm_up(renderer: Any) -> None:
    """One untimed layout per kind: fonts, Pango caches and the template compilation are loaded."""
    from dcc.bench.samples import sample_frcp, sample_pps

    renderer.render_frcp(sample_frcp())
    renderer.render_pps(sample_pps())


Work = Callable[[], tuple[int, dict[str, Any]]]


def prepare_pipeline(db_url: str, case_ids: list[str], variant: str) -> Work:
    """The real pipeline: `generate_documents` with the bootstrap adapters, BATCH cases per unit of work."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import OperationalError

    from dcc.adapters.db import models as m
    from dcc.bootstrap import cda_builder, pdf_renderer
    from dcc.services.documents import generate_documents
    from dcc.services.uow import Database

    cda, pdf = cda_builder(), pdf_renderer(variant)
    _warm_up(pdf._renderer)
    db = Database(db_url)
    now = datetime.now(UTC)

    def work() -> tuple[int, dict[str, Any]]:
        refused, lock_retries = 0, 0
        for i in range(0, len(case_ids), BATCH):
            while True:
                try:
                    with db.uow() as uow:
                        result = generate_documents(uow, case_ids=case_ids[i:i + BATCH], cda=cda, pdf=pdf,
                                                    now=now)
                    break
                except OperationalError as exc:
                    # SQLite with several writer processes: a transaction that read before another
                    # process committed cannot upgrade to a write lock (SQLITE_BUSY, no wait). The
                    # batch is re-run; cases already committed are skipped (generation is idempotent).
                    if "locked" not in str(exc) or lock_retries >= MAX_LOCK_RETRIES:
                        raise
                    lock_retries += 1
            refused += len(result.refused)
        with db.uow() as uow:
            created = uow.session.scalar(select(func.count()).select_from(m.Document)
                                         .where(m.Document.case_id.in_(case_ids))) or 0
        db.dispose()
        return created, {"refused": refused, "lock_retries": lock_retries}

    return work


def floor_html(db_url: str, case_ids: list[str], renderer: Any) -> list[str]:
    """The HTML the pipeline lays out for these cases: same content assembly as `_generate_case`."""
    from dcc.adapters.db import models as m
    from dcc.adapters.db import repositories as repo
    from dcc.domain import documents as d
    from dcc.services.content import Loader, frcp_content, new_oid
    from dcc.services.uow import Database

    db = Database(db_url)
    now = datetime.now(UTC)
    html: list[str] = []
    try:
        with db.uow() as uow:
            loader = Loader(uow)
            for case_id in case_ids:
                case = uow.session.get(m.Case, case_id)
                decision = repo.decision_of_case(uow.session, case_id)
                assert case is not None and decision is not None
                frcp_ids = d.DocumentIds(unique_id_root=new_oid(), set_id_root=new_oid(), version=1)
                frcp = frcp_content(loader, case, decision, ids=frcp_ids, now=now)
                html.append(renderer.render_html(d.DocumentKind.FRCP, frcp))
    finally:
        db.dispose()
    return html


def prepare_floor(db_url: str, case_ids: list[str], variant: str) -> Work:
    """WeasyPrint alone: `HTML(...).write_pdf(...)` with exactly the renderer's objects and options."""
    import weasyprint

    from dcc.bootstrap import pdf_renderer

    renderer = pdf_renderer(variant)._renderer
    _warm_up(renderer)
    pages = floor_html(db_url, case_ids, renderer)
    stylesheets, font_config, fetcher = renderer._stylesheets, renderer.font_config, renderer.url_fetcher
    tagged = not renderer.variant.startswith("pdf/x")

    def work() -> tuple[int, dict[str, Any]]:
        size = 0
        for page in pages:
            pdf = weasyprint.HTML(string=page, base_url=None, url_fetcher=fetcher).write_pdf(
                stylesheets=stylesheets, font_config=font_config, pdf_variant=renderer.variant,
                pdf_tags=tagged)
            size += len(pdf)
        return len(pages), {"pdf_bytes": size}

    return work


# ---------------------------------------------------------------- entry point


def _variant(variant: str | None) -> str:
    from dcc.config import get_settings

    return (variant or get_settings().pdf_variant).lower()


def run(n: int = 200, workers: int = 1, *, floor: bool = True, db_per_worker: bool = False,
        variant: str | None = None,
        seed: int = SEED, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure the document pipeline and its WeasyPrint floor; returns the JSON-able figures."""
    if n < 1 or workers < 1:
        raise ValueError("n and workers must be positive")
    say = progress or (lambda _msg: None)
    variant = _variant(variant)
    with tempfile.TemporaryDirectory(prefix="dcc-bench-docs-") as tmp:
        template = Path(tmp) / "template.sqlite3"
        say(f"building a database with decided cases for {n} documents")
        t = time.perf_counter()
        case_ids = build_database(template, n, seed=seed)
        setup_s = time.perf_counter() - t

        floor_run = None
        if floor:
            say(f"floor: WeasyPrint alone, {workers} process(es)")
            url = copy_database(template, Path(tmp) / "floor.sqlite3")
            floor_run = run_in_processes(prepare_floor, [(url, chunk, variant)
                                                         for chunk in split(case_ids, workers)])

        say(f"pipeline: {workers} worker(s), {'a database per worker' if db_per_worker else 'one database'}")
        shared = copy_database(template, Path(tmp) / f"pipeline-{workers}.sqlite3")
        args = []
        for k, chunk in enumerate(split(case_ids, workers)):
            own = Path(tmp) / f"pipeline-{workers}-{k}.sqlite3"
            args.append((copy_database(template, own) if db_per_worker else shared, chunk, variant))
        pipe = run_in_processes(prepare_pipeline, args)
        single = None
        if workers > 1:
            say("pipeline: 1 worker (reference for the speed-up)")
            url = copy_database(template, Path(tmp) / "pipeline-1.sqlite3")
            single = run_in_processes(prepare_pipeline, [(url, case_ids, variant)])

    refused = sum(r.extra.get("refused", 0) for r in pipe.reports)
    out: dict[str, Any] = {
        "n": pipe.items,
        "cases": len(case_ids),
        "workers": workers,
        "docs_per_s": round(pipe.per_s, 3),
        "floor_docs_per_s": round(floor_run.per_s, 3) if floor_run else None,
        "floor_processes": len(floor_run.reports) if floor_run else None,
        "ratio": round(pipe.per_s / floor_run.per_s, 3) if floor_run and floor_run.per_s else None,
        "peak_rss_mb": round(max(r.peak_rss_mb for r in pipe.reports), 1),
        "peak_rss_mb_per_worker": [round(r.peak_rss_mb, 1) for r in pipe.reports],
        "pipeline_ms_per_doc": round(1000 * pipe.wall_s * workers / pipe.items, 1) if pipe.items else None,
        "floor_ms_per_doc": (round(1000 * floor_run.wall_s * len(floor_run.reports) / floor_run.items, 1)
                             if floor_run else None),
        "refused": refused,
        "database": "sqlite, one per worker" if db_per_worker and workers > 1 else "sqlite, shared",
        "lock_retries": sum(r.extra.get("lock_retries", 0) for r in pipe.reports),
        "variant": variant,
        "setup_s": round(setup_s, 1),
        "parent_rss_mb": round(_rss_mb(), 1),
    }
    if single is not None:
        out["docs_per_s_1_worker"] = round(single.per_s, 3)
        out["speedup_vs_1_worker"] = round(pipe.per_s / single.per_s, 3) if single.per_s else None
    return out


__all__ = ["BATCH", "TimedRun", "WorkerReport", "build_cases", "build_database", "prepare_pipeline", "run",
           "run_in_processes", "split"]
