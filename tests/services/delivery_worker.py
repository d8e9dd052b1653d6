"""Delivery test helpers, and the dispatcher worker the SIGKILL test runs as a subprocess.

    python -m tests.services.delivery_worker --db URL --endpoint URL [--kill-at POINT --kill-nth K]

POINT is one of `after_claim`, `after_send` (sent, attempt not committed), `after_commit`, or `random`
(SIGKILL after a random delay, seeded by --seed). Before a named kill the worker prints
`killed POINT MESSAGE_ID`; `--spare MESSAGE_ID` (repeatable) makes the named points neither count nor kill
on that message. The worker drains the outbox (destination `dmp:SIM`) and exits 0 when nothing is pending.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.services.uow import Database

DESTINATION = "dmp:SIM"
STRUCTURE = ("Centre de démonstration", "1750100125")
PDF = b"%PDF-1.4\n% delivery tests: ITI-41 carries the CDA\n%%EOF\n"


def seed_cases(db: Database, *, patients: int = 2, seed: int = 1) -> list[str]:
    """A directory (one region) and one registered case per patient; returns the case ids."""
    from datetime import date

    from dcc.services import demo
    from dcc.services.seed import seed_directory, seed_patients

    with db.uow() as uow:
        seeded = seed_directory(uow, seed=seed, regions=1)
        patient_ids = seed_patients(uow, seed=seed, count=patients, region_codes=seeded.regions)
        uow.commit()
    return demo.register_demo_cases(db, patient_ids=patient_ids, seed=seed, today=date(2026, 3, 2))


def make_documents(db: Database, n: int, *, destinations: tuple[str, ...] = (DESTINATION,),
                   case_ids: list[str] | None = None, note: str = "") -> list[str]:
    """`n` signed documents (the simulator's sample CDA, each with a fresh uniqueId `2.25.<uuid>`), spread
    over the cases, each with one pending outbox message per destination. Returns the document ids."""
    from dcc.services.content import new_oid
    from dcc.services.documents import sha256
    from dcc.simulator.samples import sample_cda

    case_ids = case_ids or seed_cases(db)
    now = datetime.now(UTC)
    ids: list[str] = []
    with db.uow() as uow:
        cases = [uow.session.get(m.Case, c) for c in case_ids]
        boards = {c.id: uow.session.get(m.Board, c.board_id) for c in cases if c is not None}
        for i in range(n):
            case = cases[i % len(cases)]
            assert case is not None
            board = boards[case.id]
            assert board is not None
            unique_id = new_oid()
            cda = sample_cda(unique_id=unique_id, note=note or f"document {i}")
            doc = m.Document(case_id=case.id, patient_id=case.patient_id, kind="FRCP", set_id=new_oid(),
                             version=1, unique_id=unique_id, cda=cda, pdf=PDF, sha256=sha256(cda),
                             pdf_sha256=sha256(PDF), status="signed", template_version="test",
                             signer_id=board.responsible_id, signed_at=now)
            uow.session.add(doc)
            uow.session.flush()
            for destination in destinations:
                uow.session.add(m.OutboxMessage(document_id=doc.id, destination=destination, next_attempt_at=now))
            ids.append(doc.id)
        uow.commit()
    return ids


def transport(endpoint: str, identity_dir: Path, db: Database | None = None):  # noqa: ANN201
    """The real ITI-41 transport (dcc.bootstrap.XdsNationalRecord); with `db`, it can also send ITI-57
    metadata updates (which resend the DocumentEntry, so they read the CDA by uniqueId)."""
    from dcc.bootstrap import XdsNationalRecord, database_cda_lookup

    return XdsNationalRecord(endpoint, identity_dir=identity_dir, structure_name=STRUCTURE[0],
                             structure_id_nat=STRUCTURE[1], timeout=10.0,
                             cda_lookup=database_cda_lookup(db) if db is not None else None)


def outbox(db: Database) -> list[m.OutboxMessage]:
    with db.uow() as uow:
        rows = list(uow.session.scalars(select(m.OutboxMessage).order_by(m.OutboxMessage.id)).all())
        uow.session.expunge_all()
        return rows


def attempts(db: Database) -> list[m.DeliveryAttempt]:
    with db.uow() as uow:
        rows = list(uow.session.scalars(select(m.DeliveryAttempt).order_by(m.DeliveryAttempt.at)).all())
        uow.session.expunge_all()
        return rows


def documents(db: Database) -> list[m.Document]:
    with db.uow() as uow:
        rows = list(uow.session.scalars(select(m.Document).order_by(m.Document.id)).all())
        uow.session.expunge_all()
        return rows


# ------------------------------------------------------------------------------------------- the worker


def _kill() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    from dcc.services.delivery import CircuitBreaker, RetryPolicy, dispatch_pending, reconcile_leases

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--identity-dir", required=True)
    parser.add_argument("--kill-at", choices=["after_claim", "after_send", "after_commit", "random", "none"],
                        default="none")
    parser.add_argument("--kill-nth", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lease-s", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--spare", action="append", default=[])
    args = parser.parse_args(argv)

    db = Database(args.db)
    reconcile_leases(db, now=datetime.now(UTC))
    seen = {"n": 0}

    def probe(point: str, message_id: str) -> None:
        if point == args.kill_at and message_id not in args.spare:
            seen["n"] += 1
            if seen["n"] >= args.kill_nth:
                print(f"killed {point} {message_id}", flush=True)
                _kill()

    sender = transport(args.endpoint, Path(args.identity_dir))
    if args.kill_at == "random":  # a random moment of the drain (imports and set-up are over)
        delay = random.Random(args.seed).uniform(0.2, 2.5)
        timer = threading.Timer(delay, _kill)
        timer.daemon = True
        timer.start()
    stats = dispatch_pending(db, transports={DESTINATION: sender}, owner=f"worker-{os.getpid()}",
                             policy=RetryPolicy(max_attempts=20, base_s=0.05, max_s=0.5, lease_s=args.lease_s),
                             batch=args.batch, breaker=CircuitBreaker(threshold=1000), max_seconds=60,
                             probe=probe if args.kill_at in ("after_claim", "after_send", "after_commit") else None)
    sender.close()
    db.dispose()
    print(f"delivered={stats.delivered} attempts={stats.attempts} dead={stats.dead}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
