"""`dcc demo`: the whole chain on synthetic data, on embedded defaults.

Seed → sessions and cases (Prefect flows) → board meeting (validations queue the documents due) → documents
(Prefect flow draining that queue) → signature →
delivery to the bundled national-record simulator over HTTP and to the GP and correspondents through a local
MSSanté relay (Prefect flow, through the outbox) → summary.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.bootstrap import migrate
from dcc.config import Settings, configure_prefect
from dcc.domain.clock import now_utc

PAST_WEEKS = 6
"""The demo's boards started meeting this many weeks before its date (their sessions are in the past)."""


@dataclass
class DemoOptions:
    seed: int = 1
    patients: int = 30
    regions: int = 2
    out: Path | None = None
    reset: bool = False
    dmp_faults: str = ""
    dmp_dump: Path | None = None
    dmp_tls: bool = False  # the simulator over HTTPS, client certificate required; dcc connects with mutual TLS
    today: date = field(default_factory=date.today)


def reset_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    from alembic import command

    from dcc.adapters.db.engine import alembic_config

    command.downgrade(alembic_config(url), "base")


def run_demo(opts: DemoOptions, settings: Settings, progress: Any = None) -> dict[str, Any]:
    """Run the chain; returns the summary (the shape documented in the README)."""
    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    configure_prefect(settings)
    os.environ.setdefault("DCC_VAR_DIR", str(settings.var_dir))
    url = settings.resolved_database_url
    if opts.reset:
        step("Remise à zéro de la base")
        reset_database(url)
    migrate(url)

    from dcc.bootstrap import database, dmp_http_client, signer_directory
    from dcc.services import demo as demo_services
    from dcc.services.documents import sign_documents
    from dcc.services.seed import seed_directory, seed_patients, seed_users
    from dcc.simulator.app import create_app
    from dcc.simulator.mssante import MailSink
    from dcc.simulator.server import quiet_simulated_faults, start_in_thread

    db = database(url)
    errors: list[str] = []
    tls = None
    if opts.dmp_tls:
        from dcc.config import get_settings
        from dcc.demo.tls import demo_tls

        # the demo CA issues the simulator's server certificate and dcc's client certificate; the delivery
        # flow reads its settings from the environment (DCC_DMP_TLS_CERT / _KEY, DCC_DMP_TRUST_STORE)
        tls = demo_tls(settings.resolved_pki_dir)
        os.environ.update(tls.client_environment())
        get_settings.cache_clear()
        settings = settings.model_copy(update={"dmp_tls_cert": tls.client_cert, "dmp_tls_key": tls.client_key,
                                               "dmp_trust_store": tls.ca})
    # the simulator trusts the demo CA, which issues the regions' demo seal certificates (bootstrap)
    with start_in_thread(create_app(faults=opts.dmp_faults or None, dump_dir=opts.dmp_dump,
                                    trust_store=settings.resolved_pki_dir / "ca.pem"),
                         log_level="critical", tls=tls) as sim, MailSink() as mss:
        step("Données de démonstration")
        with db.uow() as uow:
            seeded = seed_directory(uow, seed=opts.seed, regions=opts.regions)
            patient_ids = seed_patients(uow, seed=opts.seed, count=opts.patients, region_codes=seeded.regions)
            seed_users(uow, region_codes=seeded.regions)
            for region in uow.session.scalars(select(m.Region)).all():
                region.endpoint = sim.url
                # the local MSSanté relay: documents also go to the GP and the correspondents
                region.mss_relay = mss.relay
                finess = uow.session.scalars(select(m.Establishment.finess)
                                             .where(m.Establishment.region_id == region.id)
                                             .order_by(m.Establishment.finess).limit(1)).first()
                region.mss_sender = f"rcp@{finess or region.code.lower()}.mssante.fr"
            uow.commit()
        if tls is not None:
            settings = _region_tls(db, settings, tls)

        from flows.boards import assign_cases, plan_sessions, register_demo_cases
        from flows.delivery import distribute_pending
        from flows.documents import generate_pending_documents

        quiet_simulated_faults()  # Prefect has just (re)configured logging

        # Time runs forward: the boards' work happened in the past of the real clock. Sessions are planned
        # from PAST_WEEKS ago (and 8 weeks ahead, for the pages), the cases registered and assigned then;
        # only the sessions that have started by now are held, at the real time, so no attendance,
        # decision or document precedes its meeting.
        clock = now_utc()
        start = opts.today - timedelta(weeks=PAST_WEEKS)
        step("Planification des séances (Prefect)")
        planned = plan_sessions(horizon_weeks=PAST_WEEKS + 8, today=start)
        step("Inscription des dossiers (Prefect)")
        case_ids = register_demo_cases(patient_ids=patient_ids, seed=opts.seed, today=start)
        step("Affectation des dossiers aux séances (Prefect)")
        assignment = assign_cases(today=start)
        step("Réunions de concertation")
        meeting = demo_services.hold_meetings(db, seed=opts.seed, today=opts.today, now=clock)
        step("Génération des documents dus (Prefect, file de génération)")
        # the validations committed one "documents due" row per decided case; the demo drains them in this
        # process (in production the generate-pending-documents deployment does, on its schedule and events)
        generated = generate_pending_documents(limit=1_000_000)  # every row due (the deployment: 2,000 a run)
        for case_id, reason in generated["failures"].items():
            errors.append(f"Dossier {case_id[:8]} : {reason}")
        created: list[str] = list(generated["created"])
        step("Rédaction des PPS par les équipes de soins")
        created += _author_pps(db, meeting.decided_cases, opts.seed, errors)

        step("Signature par les médecins responsables")
        signers = signer_directory(settings)
        with db.uow() as uow:
            docs = [d for d in uow.session.scalars(select(m.Document).where(m.Document.id.in_(created))).all()]
            by_signer: dict[str, list[str]] = {}
            for d in docs:
                by_signer.setdefault(d.signer_id, []).append(d.id)
        signed = 0
        for signer_id, ids in by_signer.items():
            with db.uow() as uow:
                signed += len(sign_documents(uow, document_ids=ids, signer_professional_id=signer_id,
                                             cda=_cda(), signers=signers))

        step("Correction d'un document signé (nouvelle version)")
        from dcc.bootstrap import pdf_renderer
        from dcc.services.corrections import demo_correction

        correction = demo_correction(db, today=opts.today, signers=signers, cda=_cda(),
                                     pdf=pdf_renderer(settings.pdf_variant))
        if correction.get("corrected"):
            created.append(correction["current"]["document_id"])

        step("Envoi au DMP et par MSSanté (Prefect, outbox)")
        delivery = distribute_pending(max_seconds=300.0)
        with dmp_http_client(settings) as client:  # mutual TLS with --dmp-tls
            state = client.get(f"{sim.url}/_state").json()
        mssante_messages = len(mss.messages)

    summary = _summary(db, opts, created, state, planned=planned, case_ids=case_ids, assignment=assignment,
                       meeting=meeting, delivery=delivery, errors=errors, regions=seeded.regions, signed=signed,
                       correction=correction, mssante_messages=mssante_messages)
    if opts.out is not None:
        _write_out(db, opts.out, summary)
    return summary


def _region_tls(db: Any, settings: Settings, tls: Any) -> Settings:
    """--dmp-tls: each region connects with its own client certificate (demo CA), naming its sending structure
    as its seal does; the delivery flow reads them from the environment (DCC_DMP_TLS_BY_REGION)."""
    from dcc.config import get_settings
    from dcc.demo.tls import region_clients, region_structures

    tls = region_clients(tls, settings.resolved_pki_dir, region_structures(db))
    os.environ.update(tls.client_environment())
    get_settings.cache_clear()
    return settings.model_copy(update={"dmp_tls_by_region": get_settings().dmp_tls_by_region})


def _author_pps(db: Any, case_ids: list[str], seed: int, errors: list[str]) -> list[str]:
    """The care teams author and submit the PPS the decisions call for (same services as the pages)."""
    from dcc.bootstrap import pdf_renderer
    from dcc.services import demo as demo_services

    created, refused = demo_services.author_demo_pps(db, case_ids=case_ids, seed=seed, cda=_cda(),
                                                     pdf=pdf_renderer())
    errors.extend(f"Dossier {case_id[:8]} (PPS) : {reason}" for case_id, reason in refused.items())
    return created


def _cda() -> Any:
    from dcc.bootstrap import cda_builder

    return cda_builder()


def _summary(db: Any, opts: DemoOptions, created: list[str], state: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    documents = []
    with db.uow() as uow:
        docs = list(uow.session.scalars(select(m.Document).where(m.Document.id.in_(created))
                                        .order_by(m.Document.case_id, m.Document.kind)).all())
        outbox = list(uow.session.scalars(select(m.OutboxMessage).where(m.OutboxMessage.document_id.in_(created))))
        attempts = Counter(a.outcome for a in uow.session.scalars(
            select(m.DeliveryAttempt).where(m.DeliveryAttempt.message_id.in_([o.id for o in outbox]))))
        dead_letters = sum(1 for o in outbox if o.state == "dead")
        for d in docs:
            base = f"{d.case_id}/{d.kind}-v{d.version}"
            documents.append({
                "kind": d.kind, "case_id": d.case_id, "unique_id": d.unique_id, "version": d.version,
                "cda_path": f"{base}.xml", "pdf_path": f"{base}.pdf", "sha256": d.sha256, "status": d.status,
            })
    meeting = kw["meeting"]
    delivery = kw["delivery"]
    return {
        "seed": opts.seed,
        "regions": kw["regions"],
        "sessions": kw["planned"],
        "cases": len(kw["case_ids"]),
        "stages": {
            "assignment": kw["assignment"],
            "meeting": {"sessions_held": meeting.sessions, "quorum_met": meeting.quorum_met,
                        "quorum_not_met": meeting.quorum_not_met, "decisions": len(meeting.decided_cases),
                        "represented": len(meeting.represented)},
            "documents": {"generated": len(created), "refused": len(kw["errors"]),
                          "frcp": sum(1 for d in documents if d["kind"] == "FRCP"),
                          "pps": sum(1 for d in documents if d["kind"] == "PPS")},
            "signature": {"signed": kw["signed"]},
            "correction": kw["correction"],
            "delivery": {**delivery, "attempts_by_outcome": dict(attempts),
                         "dead_letters": dead_letters, "mssante_messages": kw["mssante_messages"]},
        },
        "errors": kw["errors"],
        "documents": documents,
        "national_record": state,
    }


def _write_out(db: Any, out: Path, summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ids = {d["unique_id"] for d in summary["documents"]}
    with db.uow() as uow:
        for d in uow.session.scalars(select(m.Document).where(m.Document.unique_id.in_(ids))):
            folder = out / d.case_id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{d.kind}-v{d.version}.xml").write_bytes(d.cda)
            (folder / f"{d.kind}-v{d.version}.pdf").write_bytes(d.pdf)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n",
                                      encoding="utf-8")
