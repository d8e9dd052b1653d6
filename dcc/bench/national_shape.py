"""Benchmark: a national day on the production shape (issue 14) — Prefect server, process workers, PostgreSQL.

`run(docs, workers)` starts `dcc.bench.shape.ProductionShape` (PostgreSQL databases for dcc and Prefect,
`prefect server start`, `workers` process workers on `dcc-process`, deploy/prefect.yaml deployed, the
national-record simulator, the MSSanté sink, the web app), builds, untimed, decided cases for `docs` Fiches
RCP with the demo's services (their sessions validated: one "documents due" row per case; the rows of cases
beyond `docs` are removed), creates the demo PKI, then times three stages one after the other:

1. **generate**: flow runs of the `generate-pending-documents` deployment with deploy/prefect.yaml's
   parameters, `workers` at a time, created through Prefect's API (as the validation event or the schedule
   would; a finished run is followed at once by another while unclaimed rows remain): they drain the shared
   queue (leases, SKIP LOCKED); the stage ends when the last run is final;
2. **sign**: a person's act (the signing page, not a flow): `sign_documents` per responsible physician, in
   `workers` processes (the web app's workers), batches of 25 documents per unit of work;
3. **deliver**: flow runs of `distribute-pending` likewise (ITI-41 to the simulator, SMTP to the sink).

Stage walls are measured from the request that creates the runs to the last run's end (Prefect's own
`end_time`; same host clock). **Prefect's share** is measured from Prefect's run timings, like with like:
for each flow run, the work is the sum of its task runs' run time (the task body is the dcc service call:
rendering, queue bookkeeping, HTTP/SMTP), and Prefect's overhead is the rest of the run's life from its
creation to its end (the worker's poll, the flow-run process start and imports, the engine, the state hooks
and the artifact). Printed: `prefect_overhead_pct_of_work` (Σ overhead / Σ work over the runs) and
`prefect_share_of_end_to_end` (the wall time the stages spent outside any task run, over the end-to-end
time). Figures only, never thresholds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from dcc.bench.documents import SEED, build_cases, run_in_processes

GEN_DEPLOYMENT = ("generate_pending_documents", "generate-pending-documents")
DELIVER_DEPLOYMENT = ("distribute_pending", "distribute-pending")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _ts(value: str | None) -> float:
    if not value:
        raise ValueError("a final flow run without its timestamps")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class PrefectApi:
    def __init__(self, api_url: str) -> None:
        self.client = httpx.Client(base_url=api_url, timeout=60)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.client.post(path, json=body or {})
        answer.raise_for_status()
        return answer.json()

    def create_runs(self, deployment: tuple[str, str], parameters: dict[str, Any], count: int) -> list[str]:
        dep = self.client.get(f"/deployments/name/{deployment[0]}/{deployment[1]}")
        dep.raise_for_status()
        return [self.post(f"/deployments/{dep.json()['id']}/create_flow_run", {"parameters": parameters})["id"]
                for _ in range(count)]

    def flow_runs(self, ids: list[str]) -> list[dict[str, Any]]:
        return list(self.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}}))

    def task_runs(self, flow_run_ids: list[str]) -> list[dict[str, Any]]:
        return list(self.post("/task_runs/filter", {"flow_runs": {"id": {"any_": flow_run_ids}}}))

    def drain(self, deployment: tuple[str, str], parameters: dict[str, Any], workers: int,
              left: Callable[[], int], timeout_s: float) -> list[dict[str, Any]]:
        """`workers` runs of the deployment with its own parameters; while rows are left that no run holds, a
        finished run is followed by a new one at once (in production the schedule or the next event starts
        it, up to a minute later: that wait is not counted). Returns every run, all final."""
        ids = self.create_runs(deployment, parameters, workers)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = self.flow_runs(ids)
            active = [r for r in runs if r["state_type"] not in FINAL]
            if len(runs) == len(ids) and not active:
                if not left():
                    return runs
                ids += self.create_runs(deployment, parameters, workers)
            elif len(active) < workers and left():
                ids += self.create_runs(deployment, parameters, workers - len(active))
            time.sleep(1.0)
        raise TimeoutError(f"flow runs not final after {timeout_s:.0f} s: "
                           f"{[(r['id'], r['state_type']) for r in self.flow_runs(ids)]}")

    def pickup_s(self, run: dict[str, Any]) -> float | None:
        """Creation → PENDING (the worker's poll took the run); the rest of the launch is the flow-run process's
        start (interpreter, imports, engine) until RUNNING."""
        answer = self.client.get("/flow_run_states/", params={"flow_run_id": run["id"]})
        answer.raise_for_status()
        pending = [_ts(st["timestamp"]) for st in answer.json() if st["type"] == "PENDING"]
        return min(pending) - _ts(run["created"]) if pending else None

    def close(self) -> None:
        self.client.close()


def deployment_parameters(name: str) -> dict[str, Any]:
    """The parameters deploy/prefect.yaml gives the deployment (the bench runs what production runs)."""
    import yaml

    from dcc.bench.shape import REPO

    spec = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text())
    return dict(next(d for d in spec["deployments"] if d["name"] == name).get("parameters") or {})


def prefect_timings(api: PrefectApi, runs: list[dict[str, Any]], requested: float) -> dict[str, Any]:
    """Per stage: its wall (request → last run's end), each run's work (its task runs) and overhead (the rest
    of its life from creation to end), and the wall spent outside any task run."""
    failed = [(r["id"], r["state_type"]) for r in runs if r["state_type"] != "COMPLETED"]
    if failed:
        raise RuntimeError(f"flow runs not completed: {failed}")
    tasks = api.task_runs([r["id"] for r in runs])
    work: dict[str, float] = {}
    spans: list[tuple[float, float]] = []
    for t in tasks:
        if t.get("start_time") and t.get("end_time"):
            start, end = _ts(t["start_time"]), _ts(t["end_time"])
            work[t["flow_run_id"]] = work.get(t["flow_run_id"], 0.0) + (end - start)
            spans.append((start, end))
    life = {r["id"]: _ts(r["end_time"]) - _ts(r["created"]) for r in runs}
    launch = [_ts(r["start_time"]) - _ts(r["created"]) for r in runs]
    pickup = [api.pickup_s(r) for r in runs]
    end = max(_ts(r["end_time"]) for r in runs)
    wall = end - requested
    busy = _union(spans)  # wall time during which at least one task run was working
    work_s, overhead_s = sum(work.values()), sum(life[r] - work.get(r, 0.0) for r in life)
    return {"wall_s": wall, "runs": len(runs), "task_runs": len(tasks), "work_s": work_s,
            "overhead_s": overhead_s, "outside_tasks_wall_s": max(0.0, wall - busy),
            "launch_s": launch, "pickup_s": pickup}


def _union(spans: list[tuple[float, float]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(spans):
        if cur_end is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def _prepare_database(shape: Any, docs: int, seed: int) -> list[str]:
    """Decided cases for `docs` documents in the shape's dcc database (their sessions validated), regions
    pointed at the simulator and the sink, the demo PKI; only the selected cases keep their due rows."""
    from sqlalchemy import delete

    from dcc.adapters.db import models as m
    from dcc.adapters.signing.pki import init_demo_pki
    from dcc.bench.national_day import point_regions_at
    from dcc.services.uow import Database

    case_ids = build_cases(shape.database_url, docs, seed=seed)
    db = Database(shape.database_url)
    try:
        with db.uow() as uow:
            uow.session.execute(delete(m.GenerationTask).where(m.GenerationTask.case_id.not_in(case_ids)))
            physicians = point_regions_at(uow, shape.simulator_url, shape.mail.relay)
            uow.commit()
    finally:
        db.dispose()
    init_demo_pki(shape.var_dir / "pki", physicians)
    return case_ids


def run(docs: int = 400, workers: int = 2, *, database_url: str | None = None, seed: int = SEED,
        progress: Callable[[str], None] | None = None, timeout_s: float = 7200.0) -> dict[str, Any]:
    if docs < 1 or workers < 1:
        raise ValueError("docs and workers must be positive")
    import os

    from sqlalchemy import func, select

    from dcc.adapters.db import models as m
    from dcc.bench.national_day import _server_url, prepare_signing, sign_shares
    from dcc.bench.shape import ProductionShape
    from dcc.services.uow import Database

    say = progress or (lambda _msg: None)
    t_start = time.monotonic()
    say(f"starting the production shape: PostgreSQL, Prefect server, {workers} process workers, simulator")
    with ProductionShape(_server_url(database_url), workers=workers, web_workers=1) as shape:
        start_s = time.monotonic() - t_start
        say(f"shape ready in {start_s:.0f} s; building decided cases for {docs} documents")
        t = time.perf_counter()
        case_ids = _prepare_database(shape, docs, seed)
        setup_s = time.perf_counter() - t
        api = PrefectApi(shape.api_url)
        db = Database(shape.database_url)
        try:
            def unclaimed(model: Any, *where: Any) -> Callable[[], int]:
                def count() -> int:
                    with db.uow() as uow:
                        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
                return count

            gen_params = deployment_parameters(GEN_DEPLOYMENT[1])
            say(f"generate: {workers} flow runs at a time of generate-pending-documents {gen_params}")
            requested = time.time()
            gen = prefect_timings(api, api.drain(GEN_DEPLOYMENT, gen_params, workers, unclaimed(
                m.GenerationTask, m.GenerationTask.state == "pending"), timeout_s), requested)
            with db.uow() as uow:
                rows = uow.session.execute(select(m.Document.id, m.Document.signer_id)
                                           .where(m.Document.case_id.in_(case_ids))).all()
                tasks = dict(uow.session.execute(select(m.GenerationTask.state, func.count())
                                                 .group_by(m.GenerationTask.state)).all())
            by_signer: dict[str, list[str]] = {}
            for doc_id, signer_id in rows:
                by_signer.setdefault(signer_id, []).append(doc_id)

            say(f"sign: {workers} processes (the signing page's act), {len(by_signer)} responsible physicians")
            previous = os.environ.get("DCC_VAR_DIR")
            try:
                sign = run_in_processes(prepare_signing, [(shape.database_url, str(shape.var_dir), share)
                                                          for share in sign_shares(by_signer, workers) if share])
            finally:
                if previous is None:
                    os.environ.pop("DCC_VAR_DIR", None)
                else:
                    os.environ["DCC_VAR_DIR"] = previous

            del_params = deployment_parameters(DELIVER_DEPLOYMENT[1])
            say(f"deliver: {workers} flow runs at a time of distribute-pending {del_params}")
            requested = time.time()
            deliver = prefect_timings(api, api.drain(DELIVER_DEPLOYMENT, del_params, workers, unclaimed(
                m.OutboxMessage, m.OutboxMessage.state == "pending", m.OutboxMessage.lease_owner.is_(None)),
                timeout_s), requested)
            with db.uow() as uow:
                outbox = dict(uow.session.execute(select(m.OutboxMessage.state, func.count())
                                                  .group_by(m.OutboxMessage.state)).all())
                dead_reasons = sorted(set(uow.session.scalars(
                    select(m.OutboxMessage.destination + " : " + m.OutboxMessage.last_error)
                    .where(m.OutboxMessage.state == "dead")).all()))[:5]
            stored = len(httpx.get(f"{shape.simulator_url}/_state", timeout=60).json())
            mails = len(shape.mail.messages)
        finally:
            api.close()
            db.dispose()

    n = len(rows)
    delivered = int(outbox.get("delivered", 0))
    end_to_end = gen["wall_s"] + sign.wall_s + deliver["wall_s"]
    work = gen["work_s"] + deliver["work_s"]
    overhead = gen["overhead_s"] + deliver["overhead_s"]
    outside = gen["outside_tasks_wall_s"] + deliver["outside_tasks_wall_s"]

    def rate(items: int, wall: float) -> float | None:
        return round(items / wall, 2) if wall > 0 else None

    def stage(t: dict[str, Any]) -> dict[str, Any]:
        return {"runs": t["runs"], "task_runs": t["task_runs"], "work_s": round(t["work_s"], 1),
                "overhead_s": round(t["overhead_s"], 1),
                "overhead_pct_of_work": round(100 * t["overhead_s"] / t["work_s"], 2) if t["work_s"] else None,
                "launch_s": [round(x, 1) for x in t["launch_s"]],
                "worker_pickup_s": [None if x is None else round(x, 1) for x in t["pickup_s"]],
                "outside_tasks_wall_s": round(t["outside_tasks_wall_s"], 1)}

    return {
        "docs": n,
        "workers": workers,
        "shape": (f"production shape: Prefect server, {workers} process workers on dcc-process, PostgreSQL, "
                  "simulator, MSSanté sink; signing as the page does, in processes"),
        "database": "postgresql",
        "generate_docs_per_s": rate(n, gen["wall_s"]),
        "sign_docs_per_s": round(sign.per_s, 2),
        "deliver_messages_per_s": rate(delivered, deliver["wall_s"]),
        "deliver_docs_per_s": rate(n, deliver["wall_s"]),
        "delivered_messages": delivered,
        "messages_per_doc": round(delivered / n, 2) if n else None,
        "generate_s": round(gen["wall_s"], 1),
        "sign_s": round(sign.wall_s, 1),
        "deliver_s": round(deliver["wall_s"], 1),
        "end_to_end_s": round(end_to_end, 1),
        "end_to_end_docs_per_s": rate(n, end_to_end),
        "prefect_overhead_pct_of_work": round(100 * overhead / work, 2) if work else None,
        "prefect_share_of_end_to_end": round(outside / end_to_end, 4) if end_to_end else None,
        "prefect": {"generate": stage(gen), "deliver": stage(deliver)},
        "signed": sign.items,
        "generation_tasks_by_state": tasks,
        "stored_by_simulator": stored,
        "mssante_messages": mails,
        "outbox_by_state": outbox,
        "dead_reasons": dead_reasons,
        "setup_s": round(setup_s, 1),
        "shape_start_s": round(start_s, 1),
        "cores": os.cpu_count(),
        "docs_estimate_per_10_min": math.floor(600 * n / end_to_end) if end_to_end else None,
    }


__all__ = ["run"]
