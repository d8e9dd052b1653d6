"""Benchmark: outbox delivery throughput to the national-record simulator, against a plain httpx floor.

`run(n, dispatchers)` prepares `n` signed documents of ~60 KB (the simulator's minimal FRCP CDA with a
long narrative section, each with its own uniqueId) as `document` + `outbox_message` rows in a SQLite
database, starts the DMP simulator in its own process on loopback, and measures:

- the **floor**: as many processes as there are dispatchers (like with like), each posting its share of
  the very same ITI-41 requests, prepared beforehand (`build_submission` once per document: VIHF,
  metadata, MTOM), with one `httpx.Client` in a plain loop;
- the **pipeline**: `dcc.services.delivery.dispatch_pending` with the production transport
  (`dcc.bootstrap.XdsNationalRecord`: metadata derived from the CDA, codes checked, request built and
  signed, response parsed, attempt and state recorded), in `dispatchers` processes sharing the database.

The simulator is reset between the two measurements (same uniqueIds). Every process is prepared before
a shared start signal; throughput is documents over the wall time from the first start to the last
finish. Figures only, never thresholds.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dcc.bench.documents import SEED, TODAY, run_in_processes

TARGET_KB = 60
ENDPOINT_PATH = "/xds/iti41"

_WORDS = ("patiente adressée pour discussion du dossier après bilan d'extension complet ; "
          "proposition de chimiothérapie adjuvante puis radiothérapie, surveillance clinique et "
          "biologique tous les trois mois, consultation d'annonce et soins de support proposés. ")


def padded_cda(unique_id: str, *, target_bytes: int = TARGET_KB * 1024) -> bytes:
    """The simulator's sample FRCP CDA with a narrative long enough to weigh ~`target_bytes`."""
    from dcc.simulator.samples import sample_cda

    base = len(sample_cda(unique_id=unique_id, note="x"))
    note = (_WORDS * (target_bytes // len(_WORDS) + 1))[: max(1, target_bytes - base)].rstrip()
    return sample_cda(unique_id=unique_id, note=note)


@dataclasses.dataclass(frozen=True)
class Prepared:
    db_url: str
    destination: str
    identity_dir: Path
    structure_name: str
    structure_id_nat: str
    case_ids: int
    cda_bytes: int


def prepare_database(tmp: Path, n: int, *, seed: int = SEED) -> Prepared:
    """One region, one registered case, and `n` signed documents with their pending outbox messages."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.bootstrap import migrate
    from dcc.services import demo
    from dcc.services.content import new_oid
    from dcc.services.documents import sha256
    from dcc.services.seed import seed_directory, seed_patients
    from dcc.services.uow import Database

    url = f"sqlite:///{tmp / 'delivery.sqlite3'}"
    migrate(url)
    db = Database(url)
    try:
        with db.uow() as uow:
            seeded = seed_directory(uow, seed=seed, regions=1)
            patient_ids = seed_patients(uow, seed=seed, count=1, region_codes=seeded.regions)
            uow.commit()
        (case_id,) = demo.register_demo_cases(db, patient_ids=patient_ids, seed=seed, today=TODAY)
        now = datetime.now(UTC)
        size = 0
        with db.uow() as uow:
            case = uow.session.get(m.Case, case_id)
            assert case is not None
            board = uow.session.get(m.Board, case.board_id)
            assert board is not None
            region = uow.session.scalars(select(m.Region)).one()
            est = uow.session.scalars(select(m.Establishment).where(m.Establishment.region_id == region.id)
                                      .order_by(m.Establishment.finess).limit(1)).one()
            destination = f"dmp:{region.code}"
            pdf = b"%PDF-1.4\n% bench placeholder: ITI-41 carries the CDA\n%%EOF\n"
            for _ in range(n):
                unique_id = new_oid()
                cda = padded_cda(unique_id)
                size = len(cda)
                doc = m.Document(case_id=case.id, patient_id=case.patient_id, kind="FRCP",
                                 set_id=unique_id + ".0", version=1, unique_id=unique_id, cda=cda, pdf=pdf,
                                 sha256=sha256(cda), pdf_sha256=sha256(pdf), status="signed",
                                 template_version="bench", signer_id=board.responsible_id, signed_at=now)
                uow.session.add(doc)
                uow.session.flush()
                uow.session.add(m.OutboxMessage(document_id=doc.id, destination=destination,
                                                next_attempt_at=now))
            uow.commit()
            # the demo seal and its CA, created once here: the dispatcher processes only read them
            from dcc.adapters.national_record.vihf import make_demo_identity

            make_demo_identity(tmp / "identity", est.name, "1" + est.finess)
            return Prepared(url, destination, tmp / "identity", est.name, "1" + est.finess, 1, size)
    finally:
        db.dispose()


# ---------------------------------------------------------------- simulator in its own process


def _serve_simulator(port_q: Any, stop: Any, trust_store: Path) -> None:
    from dcc.simulator.app import create_app
    from dcc.simulator.server import start_in_thread

    with start_in_thread(create_app(trust_store=trust_store), log_level="critical") as sim:
        port_q.put(sim.port)
        stop.wait()


class SimulatorProcess:
    """The DMP simulator served by uvicorn in a spawned process (not sharing the benchmark's GIL)."""

    def __init__(self, trust_store: Path) -> None:
        """`trust_store`: the demo CA(s) the sender identities are issued by (a file or directory)."""
        ctx = mp.get_context("spawn")
        self._port_q, self._stop = ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(target=_serve_simulator, args=(self._port_q, self._stop, trust_store),
                                 daemon=True)

    def __enter__(self) -> SimulatorProcess:
        self._proc.start()
        port = self._port_q.get(timeout=120)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(timeout=15)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)

    def reset(self) -> None:
        import httpx

        httpx.post(f"{self.url}/_reset", timeout=30).raise_for_status()

    def stored(self) -> int:
        import httpx

        return len(httpx.get(f"{self.url}/_state", timeout=60).json())


# ---------------------------------------------------------------- process targets


def _transport(p: Prepared, endpoint: str) -> Any:
    from dcc.bootstrap import XdsNationalRecord

    return XdsNationalRecord(endpoint, identity_dir=p.identity_dir, structure_name=p.structure_name,
                             structure_id_nat=p.structure_id_nat)


def prepare_floor(p: Prepared, endpoint: str, part: int = 0,
                  parts: int = 1) -> Callable[[], tuple[int, dict[str, Any]]]:
    """This process's share (`part` of `parts`) of the requests, built beforehand exactly as the transport
    builds them; then a plain post loop."""
    import httpx
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.adapters.national_record.metadata import entry_from_cda
    from dcc.adapters.national_record.xds import ACTION_ITI41, build_submission, make_demo_identity
    from dcc.services.uow import Database

    identity = make_demo_identity(p.identity_dir, p.structure_name, p.structure_id_nat)
    db = Database(p.db_url)
    with db.uow() as uow:
        cdas = list(uow.session.scalars(select(m.Document.cda).order_by(m.Document.unique_id)).all())
    db.dispose()
    cdas = cdas[part::parts]
    requests = []
    for cda in cdas:
        entry = entry_from_cda(cda)
        ident = dataclasses.replace(identity, id_nat=entry.author_structure_id or identity.id_nat)
        requests.append(build_submission(cda, entry, identity=ident, endpoint=endpoint))
    client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
    client.get(endpoint.rsplit("/xds/", 1)[0] + "/_state").raise_for_status()  # connection warmed up

    def work() -> tuple[int, dict[str, Any]]:
        ok = 0
        for sub in requests:
            r = client.post(endpoint, content=sub.body, headers={
                "Content-Type": sub.content_type, "SOAPAction": f'"{ACTION_ITI41}"', "MIME-Version": "1.0"})
            ok += r.status_code == 200 and b"ResponseStatusType:Success" in r.content
        client.close()
        return ok, {"requests": len(requests), "body_bytes": sum(len(s.body) for s in requests)}

    return work


def prepare_dispatcher(p: Prepared, endpoint: str) -> Callable[[], tuple[int, dict[str, Any]]]:
    """The real outbox dispatcher with the production transport for the region."""
    from dcc.services.delivery import dispatch_pending
    from dcc.services.uow import Database

    transport = _transport(p, endpoint)
    db = Database(p.db_url)

    def work() -> tuple[int, dict[str, Any]]:
        stats = dispatch_pending(db, transports={p.destination: transport}, max_seconds=3600.0)
        transport.close()
        db.dispose()
        return stats.delivered, {"retried": stats.retried, "dead": stats.dead, "attempts": stats.attempts}

    return work


# ---------------------------------------------------------------- entry point


def run(n: int = 1000, dispatchers: int = 1, *, floor: bool = True, seed: int = SEED,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    if n < 1 or dispatchers < 1:
        raise ValueError("n and dispatchers must be positive")
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="dcc-bench-delivery-") as tmp:
        say(f"preparing {n} signed documents of ~{TARGET_KB} KB")
        t = time.perf_counter()
        prepared = prepare_database(Path(tmp), n, seed=seed)
        setup_s = time.perf_counter() - t
        with SimulatorProcess(prepared.identity_dir) as sim:
            endpoint = sim.url + ENDPOINT_PATH
            floor_run = None
            if floor:
                say(f"floor: plain httpx loop, {dispatchers} process(es)")
                floor_run = run_in_processes(prepare_floor, [(prepared, endpoint, k, dispatchers)
                                                             for k in range(dispatchers)])
                if floor_run.items != n:
                    raise RuntimeError(f"floor: {floor_run.items}/{n} requests accepted by the simulator")
                sim.reset()
            say(f"pipeline: {dispatchers} dispatcher(s)")
            pipe = run_in_processes(prepare_dispatcher, [(prepared, endpoint)] * dispatchers)
            stored = sim.stored()
    dead = sum(r.extra.get("dead", 0) for r in pipe.reports)
    out: dict[str, Any] = {
        "n": n,
        "dispatchers": dispatchers,
        "docs_per_s": round(pipe.per_s, 2),
        "floor_docs_per_s": round(floor_run.per_s, 2) if floor_run else None,
        "floor_processes": len(floor_run.reports) if floor_run else None,
        "ratio": round(pipe.per_s / floor_run.per_s, 3) if floor_run and floor_run.per_s else None,
        "delivered": pipe.items,
        "stored_by_simulator": stored,
        "retried": sum(r.extra.get("retried", 0) for r in pipe.reports),
        "dead": dead,
        "delivered_per_dispatcher": [r.items for r in pipe.reports],
        "cda_kb": round(prepared.cda_bytes / 1024, 1),
        "setup_s": round(setup_s, 1),
    }
    return out


__all__ = ["SimulatorProcess", "padded_cda", "prepare_database", "run"]
