"""Read-only views of the pages' worklists: the physician's home (sessions, cases to present, documents to
sign, PPS to complete, announcements to record, one list sorted by date) and the documents of a case with
the delivery state of each recipient. Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain import clock
from dcc.domain.ports import CdaBuilder
from dcc.domain.states import DocumentStatus, OutboxState, SessionStatus, label
from dcc.services import access
from dcc.services.queries import display_name, list_sessions, session_agenda
from dcc.services.uow import UnitOfWork

DOCUMENT_KINDS = {"FRCP": "Fiche RCP", "PPS": "PPS", "N1": "Pièce jointe partagée"}


def document_kind_label(kind: str) -> str:
    return DOCUMENT_KINDS.get(kind, kind)


def physician_board_ids(uow: UnitOfWork, professional_id: str | None) -> set[str]:
    """The boards the physician sits on."""
    if not professional_id:
        return set()
    q = select(m.BoardMember.board_id).where(m.BoardMember.professional_id == professional_id)
    return set(uow.session.scalars(q).all())


# ------------------------------------------------------------------------------------ physician home


@dataclass(frozen=True)
class DocumentRow:
    """A document of a physician's list (no CDA or PDF loaded)."""

    id: str
    case_id: str
    patient: str
    kind: str  # FRCP | PPS
    kind_label: str  # Fiche RCP | PPS
    version: int
    status: str
    created_at: datetime
    signed_at: datetime | None


def _rows(uow: UnitOfWork, docs: list[m.Document]) -> list[DocumentRow]:
    patients = repo.patients_by_ids(uow.session, list({d.patient_id for d in docs}))
    return [DocumentRow(id=d.id, case_id=d.case_id, patient=display_name(patients[d.patient_id]), kind=d.kind,
                        kind_label=document_kind_label(d.kind), version=d.version, status=d.status,
                        created_at=d.created_at, signed_at=d.signed_at) for d in docs]


def documents_to_sign(uow: UnitOfWork, professional_id: str | None) -> list[DocumentRow]:
    """Drafts waiting for this physician's signature, oldest first."""
    if not professional_id:
        return []
    docs = [d for d in repo.documents_to_sign(uow.session, professional_id)
            if d.status == DocumentStatus.DRAFT and d.signer_id == professional_id]
    return _rows(uow, docs)


def signed_not_announced(uow: UnitOfWork, professional_id: str | None) -> list[DocumentRow]:
    """Documents this physician signed whose announcement consultation is not recorded yet."""
    if not professional_id:
        return []
    return _rows(uow, repo.signed_not_announced(uow.session, professional_id))


def signed_by(uow: UnitOfWork, professional_id: str | None, *, limit: int = 50) -> list[DocumentRow]:
    """The documents this physician signed (latest first): they can be reopened."""
    if not professional_id:
        return []
    q = (select(m.Document.id).where(m.Document.signer_id == professional_id,
                                     m.Document.status.in_((DocumentStatus.SIGNED, DocumentStatus.DELIVERED,
                                                            DocumentStatus.SUPERSEDED)),
                                     m.Document.signed_at.is_not(None))
         .order_by(m.Document.signed_at.desc(), m.Document.id).limit(limit))
    ids = list(uow.session.scalars(q).all())
    docs = {d.id: d for d in repo.documents_by_ids(uow.session, ids)}
    return _rows(uow, [docs[i] for i in ids if i in docs])


@dataclass(frozen=True)
class UpcomingCase:
    session_id: str
    board_name: str
    starts_at: datetime
    case_id: str
    patient: str
    urgent: bool
    topography_code: str
    question: str
    decided: bool
    presenter: bool  # I present this case


@dataclass(frozen=True)
class HomeItem:
    """One line of the physician's to-do list: what, for whom, when (sorted by `when`)."""

    when: datetime
    kind: str  # seance | presenter | signer | pps | annonce
    label: str  # French, e.g. « Fiche RCP à signer »
    patient: str
    detail: str
    href: str  # "" when there is nothing to open (a session without cases)


@dataclass(frozen=True)
class PhysicianHome:
    sessions: list[object] = field(default_factory=list)  # SessionView of my next sessions
    upcoming: list[UpcomingCase] = field(default_factory=list)  # cases of my boards' open sessions
    items: list[HomeItem] = field(default_factory=list)  # everything to do, sorted by date


def physician_home(uow: UnitOfWork, professional_id: str | None, today: date, *,
                   pps_rows: list[tuple[m.Case, str]] | None = None) -> PhysicianHome:
    """The physician's home. `pps_rows`: the (case, patient name) whose PPS they may complete (the access
    rule lives with the caller's user)."""
    board_ids = physician_board_ids(uow, professional_id)
    sessions = [s for s in list_sessions(uow, board_id=None, start=today - timedelta(days=7), end=None)
                if s.board_id in board_ids and s.status in (SessionStatus.PLANNED, SessionStatus.HELD)]
    sessions.sort(key=lambda s: s.starts_at)
    upcoming: list[UpcomingCase] = []
    presenters: dict[str, str] = {}
    for s in sessions:
        items = session_agenda(uow, s.id).items
        if items:
            presenters.update(dict(uow.session.execute(
                select(m.Case.id, m.Case.presenter_id).where(m.Case.id.in_([i.case_id for i in items]))).all()))
        upcoming += [UpcomingCase(session_id=s.id, board_name=s.board_name, starts_at=s.starts_at,
                                  case_id=i.case_id, patient=i.patient_display_name, urgent=i.urgent,
                                  topography_code=i.topography_code, question=i.question,
                                  decided=i.decision_status is not None,
                                  presenter=presenters.get(i.case_id) == professional_id)
                     for i in items]
    todo: list[HomeItem] = []
    for s in sessions:
        todo.append(HomeItem(when=s.starts_at, kind="seance", label="Séance", patient="",
                             detail=f"{s.board_name} — {s.cases} dossier(s)",
                             href=f"/medecin/#seance-{s.id}" if s.cases else ""))
    for c in upcoming:
        if c.presenter and not c.decided:
            todo.append(HomeItem(when=c.starts_at, kind="presenter", label="Dossier à présenter", patient=c.patient,
                                 detail=f"{c.board_name} — {c.question}",
                                 href=f"/medecin/dossiers/{c.case_id}/decision"))
    for d in documents_to_sign(uow, professional_id):
        todo.append(HomeItem(when=d.created_at, kind="signer", label=f"{d.kind_label} à signer", patient=d.patient,
                             detail=f"version {d.version}", href=f"/medecin/a-signer?apercu={d.id}"))
    for case, patient in pps_rows or []:
        todo.append(HomeItem(when=case.created_at, kind="pps", label="PPS à compléter", patient=patient,
                             detail=case.registration_number, href=f"/pps/dossiers/{case.id}"))
    for d in signed_not_announced(uow, professional_id):
        todo.append(HomeItem(when=d.signed_at or d.created_at, kind="annonce",
                             label="Consultation d'annonce à enregistrer", patient=d.patient,
                             detail=f"{d.kind_label} v{d.version}", href="/medecin/#annonce"))
    todo.sort(key=lambda i: (clock.paris(i.when), i.kind))
    return PhysicianHome(sessions=list(sessions), upcoming=upcoming, items=todo)


# ------------------------------------------------------------------------------ documents of a case


@dataclass(frozen=True)
class DeliveryLine:
    recipient: str  # in words: « DMP (région A) », « MSSanté : Dr Jeanne Martin »
    state: str  # French label of the outbox state
    kind: str  # « dépôt » or « mise à jour des métadonnées »
    detail: str  # hold reason or last error, French
    delivered_at: datetime | None


@dataclass(frozen=True)
class CaseDocument:
    id: str
    kind: str
    kind_label: str
    version: int
    status: str
    state_label: str  # brouillon, à signer, signé, remplacé, envoyé…
    created_at: datetime
    signed_at: datetime | None
    signer: str
    announced: bool
    masked: bool
    deliveries: list[DeliveryLine]


def _state_label(doc: m.Document) -> str:
    if doc.status == DocumentStatus.DRAFT:
        return "brouillon, à signer"
    return label(DocumentStatus(doc.status))


def _recipient(destination: str, mss_names: list[str]) -> str:
    channel, _, region = destination.partition(":")
    if channel == "dmp":
        return f"DMP (région {region})" if region else "DMP"
    if channel == "mss":
        return "MSSanté : " + (", ".join(mss_names) if mss_names else "destinataires du document")
    return destination


def _mss_names(uow: UnitOfWork, docs: list[m.Document], outbox: list[m.OutboxMessage],
               cda: CdaBuilder | None) -> dict[str, list[str]]:
    """Document id -> the secure-messaging recipients its CDA names, as « Dr Given Family » when the address
    is in the directory (the address otherwise)."""
    with_mss = {msg.document_id for msg in outbox if msg.destination.startswith("mss:")}
    if cda is None or not with_mss:
        return {}
    addresses = {d.id: cda.mailto_recipients(d.cda) for d in docs if d.id in with_mss}
    wanted = sorted({a for values in addresses.values() for a in values})
    known = {p.mssante: f"Dr {p.given} {p.family}" for p in uow.session.scalars(
        select(m.Professional).where(m.Professional.mssante.in_(wanted)))} if wanted else {}
    return {doc_id: [known.get(a, a) for a in values] for doc_id, values in addresses.items()}


def case_documents(uow: UnitOfWork, case_id: str, *, cda: CdaBuilder | None = None) -> list[CaseDocument]:
    """Every version of every document of the case (latest first within a kind), with its delivery state
    per recipient (`cda`: reads the MSSanté recipients a document names)."""
    docs = repo.documents_of_case_without_pdf(uow.session, case_id)
    outbox = repo.outbox_for_documents(uow.session, [d.id for d in docs])
    by_doc: dict[str, list[m.OutboxMessage]] = {}
    for msg in outbox:
        by_doc.setdefault(msg.document_id, []).append(msg)
    mss_names = _mss_names(uow, docs, outbox, cda)
    signers = repo.professionals_by_ids(uow.session, list({d.signer_id for d in docs if d.signer_id}))
    out = []
    for d in sorted(docs, key=lambda d: (d.kind, -d.version)):
        msgs = sorted(by_doc.get(d.id, []), key=lambda x: (x.destination, x.kind))
        lines = [DeliveryLine(recipient=_recipient(x.destination, mss_names.get(d.id, [])),
                              state=label(OutboxState(x.state)),
                              kind="dépôt" if x.kind == "submit" else "mise à jour des métadonnées",
                              detail=x.hold_reason or "", delivered_at=x.delivered_at) for x in msgs]
        signer = signers.get(d.signer_id)
        out.append(CaseDocument(id=d.id, kind=d.kind, kind_label=document_kind_label(d.kind), version=d.version,
                                status=d.status, state_label=_state_label(d), created_at=d.created_at,
                                signed_at=d.signed_at, signer=f"Dr {signer.given} {signer.family}" if signer else "",
                                announced=d.announced_at is not None, masked=d.masked_ps, deliveries=lines))
    return out


# ------------------------------------------------------------------------------ reading a document


@dataclass(frozen=True)
class DocumentFile:
    filename: str
    media_type: str
    content: bytes


def read_document(uow: UnitOfWork, user: access.User, document_id: str, *, what: str = "pdf") -> DocumentFile:
    """A document's PDF (or CDA) for a person of its care team: the access rule of the API (404 outside it)
    and an audited read."""
    access.require(uow, user, "document", document_id, access.document_filter(user),
                   action=f"{what}_read")
    doc = uow.session.get(m.Document, document_id)
    assert doc is not None
    access.record_read(uow, user, action=f"document.{what}_read", entity="document",
                       entity_id=document_id, patient_ids=[doc.patient_id],
                       detail={"unique_id": doc.unique_id, "status": doc.status})
    name = f"{doc.kind.lower()}-v{doc.version}-{doc.id}"
    if what == "cda":
        return DocumentFile(f"{name}.xml", "application/xml", doc.cda)
    return DocumentFile(f"{name}.pdf", "application/pdf", doc.pdf)
