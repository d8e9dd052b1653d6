"""Benchmark: a national day — documents generated, signed and delivered, on PostgreSQL.

`run(docs, workers)` creates a temporary PostgreSQL database (dropped at the end), builds, untimed, enough
decided cases for `docs` Fiches RCP with the demo's own services (directory, patients, sessions,
registration, assignment, meetings), creates the demo PKI, and starts the national-record simulator in its
own process and the MSSanté sink (every region delivers to both, as in the demo). Then three stages, one
after the other, each fanned out over `workers` spawned processes sharing the database (like the Prefect
process workers of deploy/ on one host), each process prepared (renderer, signers, transports) before a
shared start signal:

1. **generate**: `dcc.services.documents.generate_documents` (CDA + PDF/A, stored), batches of 25 cases;
2. **sign**: `dcc.services.documents.sign_documents` per responsible physician (PAdES with the demo PKI,
   one outbox message per destination: DMP and MSSanté correspondents);
3. **deliver**: `dcc.services.delivery.dispatch_pending` with the production transports of
   `dcc.bootstrap.delivery_transports` (ITI-41 to the simulator, SMTP to the sink).

Printed: documents/s per stage, the end-to-end time (sum of the three stage walls: the stages run one after
the other here; in production they overlap) and documents/s end to end, the simulator's stored count.
This is the **in-process pipeline** (services called directly, no Prefect server), kept to compare: `dcc bench
national-day` runs the production shape by default (dcc.bench.national_shape: Prefect server, process
workers, flow runs) and this one with `--shape in-process`. Figures only, never thresholds.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcc.bench.documents import SEED, build_cases, prepare_pipeline, run_in_processes, split

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _server_url(database_url: str | None) -> str:
    return database_url or os.environ.get("DCC_TEST_DATABASE_URL") or DEFAULT_SERVER


def prepare_signing(db_url: str, var_dir: str, groups: list[tuple[str, list[str]]]) -> Callable[[], Any]:
    """This process's share of the (signer, document ids) groups, signed one group per unit of work."""
    os.environ["DCC_VAR_DIR"] = var_dir
    from dcc.bootstrap import cda_builder, signer_directory
    from dcc.config import get_settings
    from dcc.services.documents import sign_documents
    from dcc.services.uow import Database

    settings = get_settings()
    cda, signers = cda_builder(), signer_directory(settings)
    db = Database(db_url)

    def work() -> tuple[int, dict[str, Any]]:
        signed = 0
        for signer_id, ids in groups:
            with db.uow() as uow:
                signed += len(sign_documents(uow, document_ids=ids, signer_professional_id=signer_id, cda=cda,
                                             signers=signers))
        db.dispose()
        return signed, {}

    return work


SIGN_BATCH = 25  # documents per signing unit of work, as one confirmation on the signing page


def sign_shares(by_signer: dict[str, list[str]], workers: int) -> list[list[tuple[str, list[str]]]]:
    """Each physician's documents in batches of SIGN_BATCH, the batches dealt to the least-loaded process:
    a few physicians with many documents no longer leave a process idle (3 physicians over 2 processes
    split 2:1 when whole physicians were dealt)."""
    batches = [(signer, ids[i:i + SIGN_BATCH]) for signer, ids in sorted(by_signer.items())
               for i in range(0, len(ids), SIGN_BATCH)]
    shares: list[list[tuple[str, list[str]]]] = [[] for _ in range(workers)]
    load = [0] * workers
    for batch in sorted(batches, key=lambda b: -len(b[1])):
        k = load.index(min(load))
        shares[k].append(batch)
        load[k] += len(batch[1])
    return shares


def prepare_delivery(db_url: str, var_dir: str) -> Callable[[], Any]:
    os.environ["DCC_VAR_DIR"] = var_dir
    from dcc.bootstrap import delivery_transports
    from dcc.config import get_settings
    from dcc.services.delivery import dispatch_pending
    from dcc.services.uow import Database

    db = Database(db_url)
    transports = delivery_transports(db, get_settings())

    def work() -> tuple[int, dict[str, Any]]:
        stats = dispatch_pending(db, transports=transports, max_seconds=3600.0)
        for t in transports.values():
            close = getattr(t, "close", None)
            if close:
                close()
        db.dispose()
        return stats.delivered, {"retried": stats.retried, "dead": stats.dead}

    return work


def point_regions_at(uow: Any, sim_url: str, relay: str) -> list[tuple[str, str]]:
    """Send every region's documents to the simulator at `sim_url` and its mails through `relay`; returns the
    physicians (name, RPPS-based identifier) the demo PKI issues signing certificates for."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m

    for region in uow.session.scalars(select(m.Region)).all():
        region.endpoint = sim_url
        region.mss_relay = relay
        region.mss_sender = f"rcp@{region.code.lower()}.mssante.fr"
    return [(f"{p.given} {p.family}", "8" + p.rpps)
            for p in uow.session.scalars(select(m.Professional).where(m.Professional.is_physician))]


def _setup(url: str, var_dir: Path, docs: int, seed: int, sim_url: str, relay: str) -> list[str]:
    from dcc.adapters.signing.pki import init_demo_pki
    from dcc.services.uow import Database

    case_ids = build_cases(url, docs, seed=seed)
    db = Database(url)
    try:
        with db.uow() as uow:
            physicians = point_regions_at(uow, sim_url, relay)
            uow.commit()
    finally:
        db.dispose()
    init_demo_pki(var_dir / "pki", physicians)
    return case_ids


def run(docs: int = 400, workers: int = 2, *, database_url: str | None = None, seed: int = SEED,
        variant: str | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    if docs < 1 or workers < 1:
        raise ValueError("docs and workers must be positive")
    from sqlalchemy import func, select, text
    from sqlalchemy.engine import make_url

    from dcc.adapters.db import models as m
    from dcc.adapters.db.engine import make_engine
    from dcc.bench.delivery import SimulatorProcess
    from dcc.bench.documents import _variant
    from dcc.services.uow import Database
    from dcc.simulator.mssante import MailSink

    say = progress or (lambda _msg: None)
    variant = _variant(variant)
    base = make_url(_server_url(database_url))
    if base.get_backend_name() != "postgresql":
        raise ValueError("national-day runs on PostgreSQL (--database-url postgresql+psycopg://…)")
    name = f"dcc_bench_national_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    previous_var = os.environ.get("DCC_VAR_DIR")
    try:
        with tempfile.TemporaryDirectory(prefix="dcc-bench-national-") as tmp, SimulatorProcess(
                Path(tmp) / "var" / "pki" / "ca.pem") as sim, \
                MailSink() as mss:
            var_dir = Path(tmp) / "var"
            os.environ["DCC_VAR_DIR"] = str(var_dir)  # the spawned processes inherit it
            say(f"building decided cases for {docs} documents on PostgreSQL ({name})")
            t = time.perf_counter()
            case_ids = _setup(url, var_dir, docs, seed, sim.url, mss.relay)
            setup_s = time.perf_counter() - t

            say(f"generate: {workers} process(es)")
            gen = run_in_processes(prepare_pipeline, [(url, chunk, variant) for chunk in split(case_ids, workers)])

            db = Database(url)
            with db.uow() as uow:
                rows = uow.session.execute(select(m.Document.id, m.Document.signer_id)
                                           .where(m.Document.case_id.in_(case_ids))).all()
            by_signer: dict[str, list[str]] = {}
            for doc_id, signer_id in rows:
                by_signer.setdefault(signer_id, []).append(doc_id)
            shares = sign_shares(by_signer, workers)
            say(f"sign: {workers} process(es), {len(by_signer)} responsible physicians")
            sign = run_in_processes(prepare_signing, [(url, str(var_dir), share) for share in shares if share])

            say(f"deliver: {workers} process(es)")
            deliver = run_in_processes(prepare_delivery, [(url, str(var_dir))] * workers)
            stored = sim.stored()
            with db.uow() as uow:
                outbox = dict(uow.session.execute(select(m.OutboxMessage.state, func.count())
                                                  .group_by(m.OutboxMessage.state)).all())
            db.dispose()
            mails = len(mss.messages)
    finally:
        if previous_var is None:
            os.environ.pop("DCC_VAR_DIR", None)
        else:
            os.environ["DCC_VAR_DIR"] = previous_var
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    end_to_end = gen.wall_s + sign.wall_s + deliver.wall_s
    return {
        "docs": gen.items,
        "workers": workers,
        "shape": "in-process pipeline (services in spawned processes, no Prefect server)",
        "database": "postgresql",
        "generate_docs_per_s": round(gen.per_s, 2),
        "sign_docs_per_s": round(sign.per_s, 2),
        "deliver_messages_per_s": round(deliver.per_s, 2),
        "delivered_messages": deliver.items,
        "messages_per_doc": round(deliver.items / gen.items, 2) if gen.items else None,
        "generate_s": round(gen.wall_s, 1),
        "sign_s": round(sign.wall_s, 1),
        "deliver_s": round(deliver.wall_s, 1),
        "end_to_end_s": round(end_to_end, 1),
        "end_to_end_docs_per_s": round(gen.items / end_to_end, 2) if end_to_end else None,
        "signed": sign.items,
        "stored_by_simulator": stored,
        "mssante_messages": mails,
        "outbox_by_state": outbox,
        "dead": sum(r.extra.get("dead", 0) for r in deliver.reports),
        "refused": sum(r.extra.get("refused", 0) for r in gen.reports),
        "variant": variant,
        "setup_s": round(setup_s, 1),
        "cores": os.cpu_count(),
    }


__all__ = ["run"]
