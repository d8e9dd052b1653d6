"""The production shape (issue 14), on loopback: PostgreSQL databases for dcc and Prefect, `prefect server
start`, two process workers on `dcc-process`, the web app (uvicorn, 2 workers), the national-record simulator
and the MSSanté sink (dcc.bench.shape), with deploy/prefect.yaml and deploy/automations.yaml applied.

A region is driven through the services the pages use: cases registered and assigned, attendance (quorum)
and decisions recorded, each session validated over the web API (which emits `dcc.session.validated`, so the
`generate-pending-documents` deployment runs), the documents signed (`dcc.documents.signed`:
`distribute-pending` runs). One worker is SIGKILLed (with its flow run) during generation, one during
delivery. Then: every case has exactly one Fiche RCP, signed once, stored once by the national-record
simulator; the killed runs are CRASHED in Prefect (the zombie automation: no heartbeat), their leases were
released by `reconcile-leases` and their work redone; every completed drain run published its table artifact
and the monitor's flow-run page links to it.

Part of `make test` (`.ci/run`), and alone with `make test-production` (marker `production_shape`).
PostgreSQL is required, not optional (as the backup drill): DCC_TEST_DATABASE_URL, else the CI's server at
127.0.0.1:5432; without it the test fails. The zombie window is shortened to 45 s (production: 90 s)
and the workers poll every 2 s (default 10 s)
to keep the test short; the scheduler is off so that only the events start runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.bench.shape import ProductionShape
from dcc.services.uow import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.production_shape]
PG_URL = os.environ.get("DCC_TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TODAY = date(2026, 3, 2)  # sessions from this Monday on: all started by now, so they may be held
SEED = 11
CASES_WANTED = 8


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def shape() -> Iterator[ProductionShape]:
    # workers poll every 2 s (Prefect's default: 10 s): each flow run in the crash paths starts sooner; what
    # is proven is unchanged
    with ProductionShape(PG_URL, workers=2, web_workers=2, zombie_within_s=45,
                         env={"PREFECT_WORKER_QUERY_SECONDS": "2"}) as running:
        yield running


def _build_region(db: Database, shape: ProductionShape) -> list[tuple[str, str, dict[str, str], list[str]]]:
    """One region's directory, patients, sessions, registered and assigned cases; attendance (quorate) and
    decisions recorded with the boards' services. Returns (session id, responsible physician id, attendance,
    case ids) of the sessions to validate."""
    from dcc.adapters.db import repositories as repo
    from dcc.adapters.signing.pki import init_demo_pki
    from dcc.services import boards, demo
    from dcc.services.schemas import AttendanceInput, DecisionInput
    from dcc.services.seed import seed_directory, seed_patients

    with db.uow() as uow:
        seeded = seed_directory(uow, seed=SEED, regions=1)
        patient_ids = seed_patients(uow, seed=SEED, count=CASES_WANTED, region_codes=seeded.regions)
        for region in uow.session.scalars(select(m.Region)):
            region.endpoint, region.mss_relay = shape.simulator_url, shape.mail.relay
            region.mss_sender = f"rcp@{region.code.lower()}.mssante.fr"
        physicians = [(f"{p.given} {p.family}", "8" + p.rpps)
                      for p in uow.session.scalars(select(m.Professional).where(m.Professional.is_physician))]
        region_id = uow.session.scalars(select(m.Region.id)).one()
        # the accounts an administrator gives the boards' responsible physicians and the regional monitor
        for i, board in enumerate(uow.session.scalars(select(m.Board).order_by(m.Board.id))):
            if not uow.session.scalar(select(m.AppUser.id).where(m.AppUser.professional_id == board.responsible_id)):
                uow.session.add(m.AppUser(login=f"resp-{i}", role="physician", region_id=region_id,
                                          professional_id=board.responsible_id, display_name=f"Dr {i}", active=True))
                uow.session.flush()
        uow.session.add(m.AppUser(login="monitor-shape", role="monitor", region_id=region_id,
                                  display_name="Observatoire", active=True))
        uow.commit()
    init_demo_pki(shape.var_dir / "pki", physicians)
    with db.uow() as uow:
        boards.plan_sessions(uow, today=TODAY, horizon_weeks=2)
        uow.commit()
    demo.register_demo_cases(db, patient_ids=patient_ids, seed=SEED, today=TODAY)
    with db.uow() as uow:
        boards.assign_cases(uow, today=TODAY)
    plan = []
    with db.uow() as uow:
        for s in repo.sessions_between(uow.session, board_id=None, start=None, end=None):
            agenda = repo.cases_of_session(uow.session, s.id)
            if not agenda:
                continue
            board = uow.session.get(m.Board, s.board_id)
            assert board is not None and board.responsible_id
            attendance = {p.id: "present" for p in repo.board_members(uow.session, board.id)}
            proposals = (demo.ORGAN_PROPOSALS.get(board.name.removeprefix("RCP "), demo.ORGAN_PROPOSALS["Digestif"])
                         if board.kind == "organ" else demo.TRANSVERSAL_PROPOSALS)
            plan.append((s.id, board.responsible_id, attendance, [c.id for c in agenda], s.starts_at, proposals[0]))
    out = []
    for session_id, responsible, attendance, case_ids, starts_at, codes in plan:
        now = starts_at + timedelta(hours=1)
        with db.uow() as uow:
            status = boards.record_attendance(uow, session_id=session_id, data=AttendanceInput(attendance=attendance),
                                              actor="test", now=now)
        assert status == "met", "every member present: the quorum is met"
        for case_id in case_ids:
            decision = DecisionInput(session_id=session_id, case_status="discussed", proposal_codes=codes,
                                     proposal_text="Proposition thérapeutique de la RCP (test).",
                                     conform_to_referential=True, departure_justification="",
                                     trial_proposed=False, trial_name="")
            with db.uow() as uow:
                boards.record_decision(uow, case_id=case_id, data=decision, actor="test", now=now)
        out.append((session_id, responsible, attendance, case_ids))
    return out


def _prefect(shape: ProductionShape, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(f"{shape.api_url}{path}", json=body or {}, timeout=30)
    answer.raise_for_status()
    return answer.json()


def _runs(shape: ProductionShape, deployment: str) -> list[dict[str, Any]]:
    deps = {d["name"]: d["id"] for d in _prefect(shape, "/deployments/filter")}
    return _prefect(shape, "/flow_runs/filter", {"deployments": {"id": {"any_": [deps[deployment]]}}})


def _worker_of(shape: ProductionShape, flow_run_id: str) -> int:
    """Which worker process started the run (its infrastructure pid is one of the worker's descendants)."""
    from dcc.bench.shape import _descendants

    run = httpx.get(f"{shape.api_url}/flow_runs/{flow_run_id}", timeout=30).json()
    pid = int(str(run["infrastructure_pid"]).rsplit(":", 1)[-1])
    for i in range(1, shape.workers + 1):
        if pid in _descendants(shape.procs[f"worker-{i}"].pid):
            return i
    raise AssertionError(f"no worker runs flow run {flow_run_id} (pid {pid})")


def _leased_by(db: Database, model: Any) -> set[str]:
    with db.uow() as uow:
        return {o for o in uow.session.scalars(select(model.lease_owner).where(model.lease_owner.is_not(None)))}


def _kill_holder(shape: ProductionShape, db: Database, model: Any, progressed: Callable[[], bool]) -> str:
    """Wait until a flow run holds leases and has made progress, SIGKILL its worker (and the run), restart the
    worker as systemd would. Returns the killed run's id."""
    owner = wait_for("a drain holding leases and half-way", lambda: progressed() and next(
        (o for o in _leased_by(db, model) if o.startswith("flow-run-")), None), timeout=420, every=0.2)
    run_id = owner.removeprefix("flow-run-")
    worker = _worker_of(shape, run_id)
    shape.kill_worker(worker)
    shape.start_worker(worker)
    return str(run_id)


def _artifacts(shape: ProductionShape, key: str) -> dict[str, list[dict[str, Any]]]:
    arts = _prefect(shape, "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}})
    out: dict[str, list[dict[str, Any]]] = {}
    for a in arts:
        assert a["type"] == "table"
        data = a["data"] if isinstance(a["data"], list) else json.loads(a["data"])
        out.setdefault(a["flow_run_id"], []).extend(data)
    return out


def test_production_shape_survives_killed_workers(shape: ProductionShape) -> None:
    db = Database(shape.database_url)
    phases: dict[str, float] = dict(shape.timings)
    t0 = time.monotonic()

    def mark(name: str) -> None:
        phases[name] = round(time.monotonic() - t0, 1)

    try:
        sessions = _build_region(db, shape)
        mark("region_built_s")
        cases = [c for *_, ids in sessions for c in ids]
        assert len(cases) >= 4

        # validation over the web API, as the responsible physician: the web process emits the event
        shape.simulator_faults = ""
        for session_id, responsible, _att, _ids in sessions:
            with db.uow() as uow:
                login = uow.session.scalar(select(m.AppUser.login).where(m.AppUser.professional_id == responsible))
            token = subprocess.run([sys.executable, "-m", "dcc.cli", "auth", "token", "--user", str(login)],
                                   env=shape.env(), capture_output=True, text=True, check=True).stdout.strip()
            answer = httpx.post(f"{shape.web_url}/api/v1/sessions/{session_id}/validate", json={"confirm": True},
                                headers={"Authorization": f"Bearer {token}"}, timeout=60)
            assert answer.status_code == 200, answer.text

        def generated() -> int:
            with db.uow() as uow:
                return int(uow.session.scalar(select(func.count()).select_from(m.GenerationTask)
                                              .where(m.GenerationTask.state == "done")) or 0)

        killed_gen = _kill_holder(shape, db, m.GenerationTask, lambda: 0 < generated() < len(cases))
        mark("generation_worker_killed_s")
        wait_for("every case generated after the crash", lambda: generated() == len(cases), timeout=420)
        mark("all_generated_s")

        with db.uow() as uow:
            docs = uow.session.execute(select(m.Document.case_id, m.Document.kind)).all()
        assert sorted(c for c, _ in docs) == sorted(cases), "one Fiche RCP per case, none twice"

        # delivery: slow national record so that the kill lands mid-flight
        httpx.post(f"{shape.simulator_url}/_faults", content="latency_ms=1500", timeout=10).raise_for_status()
        signed = json.loads(subprocess.run([sys.executable, "-m", "tests.integration.shape_actions", "sign"],
                                           env=shape.env(), capture_output=True, text=True, check=True).stdout)
        assert sorted(signed) == sorted(d.id for d in _documents(db))

        def delivered() -> int:
            with db.uow() as uow:
                return int(uow.session.scalar(select(func.count()).select_from(m.OutboxMessage)
                                              .where(m.OutboxMessage.state == "delivered")) or 0)

        with db.uow() as uow:
            messages = int(uow.session.scalar(select(func.count()).select_from(m.OutboxMessage)) or 0)
        killed_del = _kill_holder(shape, db, m.OutboxMessage, lambda: 0 < delivered() < messages)
        mark("delivery_worker_killed_s")
        httpx.post(f"{shape.simulator_url}/_faults", content="", timeout=10).raise_for_status()
        wait_for("every message delivered after the crash", lambda: delivered() == messages, timeout=420)
        mark("all_delivered_s")

        # Prefect: the killed runs crashed (no heartbeat), reconcile-leases ran on the crash events
        for run_id in (killed_gen, killed_del):
            wait_for(f"flow run {run_id} CRASHED", lambda r=run_id: httpx.get(
                f"{shape.api_url}/flow_runs/{r}", timeout=30).json()["state_type"] == "CRASHED", timeout=120)
        reconciled = [r for r in _runs(shape, "reconcile-leases") if r["state_type"] == "COMPLETED"]
        assert reconciled, "reconcile-leases did not run on the crash events"

        # exactly once: one signed document per case, stored once by the national record
        state = httpx.get(f"{shape.simulator_url}/_state", timeout=30).json()
        documents = _documents(db)
        assert all(d.status == "delivered" and d.signed_at is not None for d in documents)
        stored = [e["unique_id"] for e in state]
        assert sorted(stored) == sorted(d.unique_id for d in documents), "each document stored exactly once"
        with db.uow() as uow:
            audit_signs = uow.session.execute(select(m.AuditEvent.entity_id, func.count())
                                              .where(m.AuditEvent.action == "document.sign")
                                              .group_by(m.AuditEvent.entity_id)).all()
        assert {d: n for d, n in audit_signs} == {d.id: 1 for d in documents}, "each document signed once"

        _check_artifacts(shape, db, killed_gen, killed_del)
        mark("checked_s")
        print(f"production shape phases (s; start-up from the launcher, the rest from the test's start): {phases}")
    finally:
        db.dispose()


def _documents(db: Database) -> list[Any]:
    with db.uow() as uow:
        return list(uow.session.execute(select(m.Document.id, m.Document.unique_id, m.Document.status,
                                               m.Document.signed_at)).all())


def _check_artifacts(shape: ProductionShape, db: Database, killed_gen: str, killed_del: str) -> None:
    gen = _artifacts(shape, "generation-documents")
    done_gen = [r["id"] for r in _runs(shape, "generate-pending-documents") if r["state_type"] == "COMPLETED"]
    assert done_gen and set(done_gen) <= set(gen), "every completed generation run published its table"
    assert killed_gen not in gen
    for rows in gen.values():
        assert {r["résultat"] for r in rows} >= {"dossiers générés", "documents créés", "lettres mortes"}
    dist = _artifacts(shape, "distribution-envois")
    done_del = [r["id"] for r in _runs(shape, "distribute-pending") if r["state_type"] == "COMPLETED"]
    assert done_del and set(done_del) <= set(dist), "every completed distribution run published its table"
    with db.uow() as uow:
        by_owner = dict(uow.session.execute(
            select(m.DeliveryAttempt.owner, func.count()).where(m.DeliveryAttempt.outcome == "delivered")
            .group_by(m.DeliveryAttempt.owner)).all())
    for run_id, rows in dist.items():
        remis = [r["nombre"] for r in rows if r["résultat"] == "envois remis"]
        assert remis == [by_owner.get(f"flow-run-{run_id}", 0)], "the table counts what the run delivered"

    # the monitor's flow-run page links each run to its artifact in Prefect's UI
    with db.uow() as uow:
        login = "monitor-shape"
    token = subprocess.run([sys.executable, "-m", "dcc.cli", "auth", "token", "--user", str(login)],
                           env=shape.env(), capture_output=True, text=True, check=True).stdout.strip()
    page = httpx.get(f"{shape.web_url}/suivi/flux", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert page.status_code == 200, page.text[:500]
    artifact_ids = {a["id"] for a in _prefect(shape, "/artifacts/filter",
                                               {"artifacts": {"flow_run_id": {"any_": done_gen[:1]}}})}
    assert any(f"/artifacts/artifact/{a}" in page.text for a in artifact_ids), page.text[-3000:]
    assert "interrompu" in page.text, "the crashed runs are shown as interrupted"


class _FailingDeploy(ProductionShape):
    started: list[subprocess.Popen[Any]]
    children: list[int]

    def deploy(self, prefect: str) -> None:
        from dcc.bench.shape import _descendants

        self.started = list(self.procs.values())
        self.children = [c for p in self.started for c in _descendants(p.pid)]
        raise RuntimeError("deploy refused (test)")


def test_a_failed_start_leaves_nothing_behind() -> None:
    """The Prefect server, the simulator, the web app and the workers are running when the deployment fails:
    every process started is gone afterwards, both databases are dropped and the working directory removed."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from dcc.adapters.db.engine import make_engine

    shape = _FailingDeploy(PG_URL, workers=2)
    with pytest.raises(RuntimeError, match="deploy refused"):
        with shape:
            pass
    assert len(shape.started) == 5 and shape.children, "server, simulator, web app and 2 workers were running"
    assert all(p.poll() is not None for p in shape.started)
    assert [pid for pid in shape.children if os.path.exists(f"/proc/{pid}")
            and open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] != "Z"] == []
    assert shape.procs == {} and shape.mail is None
    admin = make_engine(make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect() as conn:
            left = conn.execute(text("SELECT datname FROM pg_database WHERE datname = ANY(:names)"),
                                {"names": list(shape.db_names.values())}).scalars().all()
    finally:
        admin.dispose()
    assert left == []
    assert not shape.tmp.exists() or os.environ.get("DCC_SHAPE_KEEP_LOGS")
