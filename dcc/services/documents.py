"""Document use cases: generate the Fiche RCP and the PPS of decided cases, sign them, audit the store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain import documents as d
from dcc.domain.calendar import PARIS
from dcc.domain.clock import aware, fr_datetime, not_started, now_utc
from dcc.domain.ports import CdaBuilder, PdfRenderer, SignerDirectory
from dcc.domain.states import advance
from dcc.errors import Conflict, DccError, IncompleteData, NotFound, QuorumNotMet, SignatureRefused
from dcc.services.audit import record_audit
from dcc.services.content import Loader, frcp_content, new_oid
from dcc.services.schemas import TumourUpdate
from dcc.services.uow import UnitOfWork


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class GenerationResult:
    created: list[str] = field(default_factory=list)  # document ids
    refused: dict[str, str] = field(default_factory=dict)  # case id -> French reason


def require_meeting_started(uow: UnitOfWork, decision: m.Decision, now: datetime, what: str) -> None:
    """A document is never dated before the meeting it reports: refuse (409, French) when `now` (its
    creation or authentication time) is before the start of the decision's session."""
    session = uow.session.get(m.Session, decision.session_id)
    if session is None:
        raise NotFound(f"Séance « {decision.session_id} » introuvable.")
    if not_started(session.starts_at, now):
        raise Conflict(f"La séance du {fr_datetime(session.starts_at)} n'a pas encore commencé : {what} ne "
                       f"peut pas être daté(e) du {fr_datetime(now)}, avant la réunion.")


def generate_documents(uow: UnitOfWork, *, case_ids: list[str], cda: CdaBuilder, pdf: PdfRenderer,
                       now: datetime | None = None, loader: Loader | None = None) -> GenerationResult:
    """Generate the Fiche RCP of each decided case (the PPS is authored: dcc.services.pps).

    A case with incomplete data is refused with the list of missing fields; the others go on.
    Each case commits on its own, so one refusal never loses the others' documents.
    `now` (the documents' creation time, effectiveTime) defaults to the real time and may not be later than
    it; a case whose session has not started at `now` is refused (a document is never dated before its
    meeting). `loader`: a content loader of this unit of work to reuse (its directory and code caches), as
    the generation queue does across the rows it claimed.
    """
    real = now_utc()
    now = aware(now) if now is not None else real
    if now > real:
        raise ValueError("generate_documents: `now` is in the future (documents are dated when generated)")
    result = GenerationResult()
    loader = loader if loader is not None and loader.uow is uow else Loader(uow)
    for case_id in case_ids:
        try:
            created = _generate_case(uow, loader, case_id, cda=cda, pdf=pdf, now=now)
        except DccError as exc:
            uow.rollback()
            loader = Loader(uow)
            result.refused[case_id] = exc.message
            _record_refusal(uow, case_id, exc)
            continue
        case = uow.session.get(m.Case, case_id)
        if case is not None and case.documents_missing:
            case.documents_missing = []  # complete now: the case no longer shows what was missing
        uow.commit()
        result.created.extend(created)
    return result


def _record_refusal(uow: UnitOfWork, case_id: str, exc: DccError) -> None:
    """The case shows, in French, which fields its documents are missing (audited); the flow moves on."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        return
    missing = list(exc.missing) if isinstance(exc, IncompleteData) else [exc.message]
    case.documents_missing = missing
    record_audit(uow, actor="system", action="document.refused", entity="case", entity_id=case_id,
                 patient_id=case.patient_id, detail={"missing": missing})
    uow.commit()


@dataclass(frozen=True)
class _Rendered:
    kind: d.DocumentKind
    ids: d.DocumentIds
    cda: bytes
    pdf: bytes


def _generate_case(uow: UnitOfWork, loader: Loader, case_id: str, *, cda: CdaBuilder, pdf: PdfRenderer,
                   now: datetime) -> list[str]:
    """Read and assemble in a short read transaction, render outside any transaction, then write in a
    fresh write transaction (BEGIN IMMEDIATE on SQLite) that re-checks nothing was generated meanwhile:
    several generation workers can share one database without holding its write lock while rendering."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    decision = repo.decision_of_case(uow.session, case_id)
    if decision is None or not decision.locked:
        raise IncompleteData(["décision validée de la RCP"], what="la fiche RCP")
    _require_quorum(uow, decision)
    require_meeting_started(uow, decision, now, "la fiche RCP")
    if repo.documents_of_case(uow.session, case_id):
        return []  # already generated (idempotent)
    contents: list[tuple[d.DocumentKind, d.FrcpContent | d.PpsContent]] = []
    frcp_ids = d.DocumentIds(unique_id_root=new_oid(), set_id_root=new_oid(), version=1)
    frcp = frcp_content(loader, case, decision, ids=frcp_ids, now=now)
    missing = d.missing_fields_frcp(frcp)
    if missing:
        raise IncompleteData(missing, what="la fiche RCP")
    contents.append((d.DocumentKind.FRCP, frcp))
    # The PPS is not generated here: the care team authors it from the decision (dcc.services.pps).
    uow.rollback()  # end the read transaction before the slow part

    rendered = []
    for kind, content in contents:
        if isinstance(content, d.FrcpContent):
            rendered.append(_Rendered(kind, content.ids, cda.build_frcp(content), pdf.render_frcp(content)))
        else:
            rendered.append(_Rendered(kind, content.ids, cda.build_pps(content), pdf.render_pps(content)))

    uow.begin_write()
    # PostgreSQL: lock the case row, so two generations of one case serialise here (SQLite: BEGIN IMMEDIATE)
    case = uow.session.get(m.Case, case_id, with_for_update=True, populate_existing=True)
    if repo.documents_of_case(uow.session, case_id):
        return []  # another worker generated them while we rendered
    assert case is not None
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    return [_store(uow, case, board, r.kind, r.ids, r.cda, r.pdf, pdf.template_version) for r in rendered]


def _require_quorum(uow: UnitOfWork, decision: m.Decision | None, *, signing: bool = False) -> None:
    """INCa: a valid RCP needs its quorum. A decision of a session without quorum is no board decision: its
    case is re-presented, and no Fiche RCP or PPS is generated or signed from it (defence in depth: the
    validation already keeps such cases away from generation)."""
    if decision is not None and decision.quorum == "met":
        return
    when = ""
    if decision is not None:
        session = uow.session.get(m.Session, decision.session_id)
        if session is not None:
            when = f" à la séance du {session.starts_at.astimezone(PARIS):%d/%m/%Y}"
    message = (f"Quorum non atteint{when} : la proposition n'est pas une décision de la RCP, aucun document "
               "n'est produit ; le dossier est représenté à une séance ultérieure.")
    raise SignatureRefused(message) if signing else QuorumNotMet(message)


def _store(uow: UnitOfWork, case: m.Case, board: m.Board, kind: d.DocumentKind, ids: d.DocumentIds,
           cda_bytes: bytes, pdf_bytes: bytes, template_version: str, *, actor: str = "system") -> str:
    doc = m.Document(
        case_id=case.id, patient_id=case.patient_id, kind=kind.value, set_id=ids.set_id_root, version=ids.version,
        unique_id=ids.unique_id_root, cda=cda_bytes, pdf=pdf_bytes, sha256=sha256(cda_bytes),
        pdf_sha256=sha256(pdf_bytes), status=d.DocumentStatus.DRAFT.value, template_version=template_version,
        signer_id=board.responsible_id,
    )
    uow.session.add(doc)
    uow.session.flush()
    record_audit(uow, actor=actor, action="document.generate", entity="document", entity_id=doc.id,
                 patient_id=case.patient_id, detail={"kind": kind.value, "unique_id": ids.unique_id_root})
    return doc.id


@dataclass
class RegenerationResult:
    removed: list[str] = field(default_factory=list)  # ids of the drafts replaced
    created: list[str] = field(default_factory=list)  # ids of the new drafts
    refused: str = ""  # French reason when the documents still cannot be generated


def regenerate_case_documents(uow: UnitOfWork, case_id: str, actor: str, cda: CdaBuilder, pdf: PdfRenderer,
                              *, now: datetime | None = None) -> RegenerationResult:
    """Generate again the unsigned documents of a decided case: after an identity was qualified or missing
    data completed. The drafts (never signed, never sent) are deleted and generated anew with new ids; a case
    refused for missing data (`Case.documents_missing`) is retried. Audited as `document.regenerate`.

    Signed documents are never touched: once one is signed, a change goes through the correction path
    (a new version replacing it), so regeneration is refused (409)."""
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Dossier « {case_id} » introuvable.")
    decision = repo.decision_of_case(uow.session, case_id)
    if decision is None or not decision.locked:
        raise Conflict("Le dossier n'a pas de décision validée : ses documents ne sont pas encore générés.")
    uow.begin_write()  # the drafts cannot be signed between this check and their deletion
    docs = repo.documents_of_case(uow.session, case_id)
    signed = [doc for doc in docs if doc.status != d.DocumentStatus.DRAFT.value]
    if signed:
        raise Conflict("Des documents de ce dossier sont déjà signés : ils ne sont pas régénérés ; une "
                       "modification passe par une correction (nouvelle version du document signé).")
    case = uow.session.get(m.Case, case_id)
    assert case is not None
    out = RegenerationResult(removed=[doc.id for doc in docs])
    record_audit(uow, actor=actor, action="document.regenerate", entity="case", entity_id=case_id,
                 patient_id=case.patient_id,
                 detail={"replaced": [{"id": doc.id, "kind": doc.kind, "unique_id": doc.unique_id} for doc in docs],
                         "documents_missing": list(case.documents_missing or [])})
    for doc in docs:
        uow.session.delete(doc)
    uow.session.flush()
    uow.commit()  # generation below ends its read transaction with a rollback: the deletion must be durable
    # The Fiche RCP (and whatever else `generate_documents` produces for the case) is generated as after the
    # session's validation; a refusal is recorded on the case (`documents_missing`).
    result = generate_documents(uow, case_ids=[case_id], cda=cda, pdf=pdf, now=now)
    out.created = list(result.created)
    out.refused = result.refused.get(case_id, "")
    if out.created:  # a dead letter of the generation queue for this case is closed
        from dcc.services.generation import mark_generated

        uow.begin_write()
        mark_generated(uow, case_id)
        uow.commit()
    return out


def complete_tumour(uow: UnitOfWork, *, case_id: str, data: TumourUpdate, today: date, actor: str,
                    cda: CdaBuilder, pdf: PdfRenderer) -> RegenerationResult | None:
    """The coordinator completes or corrects a case's tumour (`boards.update_tumour`: the registration's rules,
    audited, refused once a document is signed); when the board's decision is validated (and quorate), the
    case's unsigned documents are regenerated in the same use case, so a case refused for a missing field
    gets its documents and a draft never states the tumour as it was before. Returns the regeneration, or
    None when there is nothing to regenerate yet."""
    from dcc.services.boards import update_tumour

    update_tumour(uow, case_id=case_id, data=data, today=today, actor=actor)
    decision = repo.decision_of_case(uow.session, case_id)
    if decision is None or not decision.locked or decision.quorum != "met":
        return None
    return regenerate_case_documents(uow, case_id, actor, cda, pdf)


def destinations_for(uow: UnitOfWork, doc: m.Document, cda: CdaBuilder) -> list[str]:
    """Outbox destinations of a signed document: the national record through the board's region
    (`dmp:<code>`, always first), and secure messaging to the referring GP and the correspondents
    (`mss:<code>`) when the region has an MSSanté relay and the document names at least one recipient
    (an INF or CON participant with a `mailto:` telecom: the very rule the MSSanté transport applies, read
    from the CDA being signed, so no message is queued that would have nobody to go to)."""
    case = uow.session.get(m.Case, doc.case_id)
    assert case is not None
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    est = uow.session.get(m.Establishment, board.establishment_id)
    assert est is not None
    region = uow.session.get(m.Region, est.region_id)
    assert region is not None
    destinations = [f"dmp:{region.code}"]
    if region.mss_relay:
        if cda.mailto_recipients(doc.cda):
            destinations.append(f"mss:{region.code}")
    return destinations


def sign_documents(uow: UnitOfWork, *, document_ids: list[str], signer_professional_id: str,
                   cda: CdaBuilder, signers: SignerDirectory) -> list[str]:
    """Sign a batch (after one confirmation): PAdES on the PDF, legalAuthenticator time on the CDA, status
    `signed`, and one outbox message per destination, all in one transaction.

    The signing time is the real time, read here (never passed in): the CDA's authentication time is when
    the physician signed. A document whose meeting has not started yet is refused."""
    now = now_utc()
    prof = uow.session.get(m.Professional, signer_professional_id)
    if prof is None:
        raise NotFound(f"Professionnel « {signer_professional_id} » introuvable.")
    if not prof.is_physician:  # a coordinating nurse authors the PPS, the responsible physician signs it
        raise SignatureRefused(f"{prof.given} {prof.family} n'est pas médecin : seul le médecin responsable de la "
                               "RCP signe les documents.")
    docs = {doc.id: doc for doc in repo.documents_by_ids(uow.session, document_ids)}
    for doc_id in document_ids:
        doc = docs.get(doc_id)
        if doc is None or doc.status != d.DocumentStatus.DRAFT.value or doc.signer_id != prof.id:
            raise SignatureRefused(f"Le document « {doc_id} » n'est pas dans la file « à signer » de "
                                   f"Dr {prof.given} {prof.family}.")
        decision = repo.decision_of_case(uow.session, doc.case_id)
        _require_quorum(uow, decision, signing=True)
        if decision is not None:
            require_meeting_started(uow, decision, now, f"le document « {doc.unique_id} »")
    signer = signers.signer_for(id_nat="8" + prof.rpps, name=f"{prof.given} {prof.family}")
    est = uow.session.get(m.Establishment, prof.establishment_id)
    assert est is not None
    signed: list[str] = []
    for doc_id in document_ids:
        doc = docs[doc_id]
        cda_bytes = cda.stamp_legal_authenticator(doc.cda, signed_at=now)
        pdf_bytes = signer.sign(doc.pdf, signer_name=f"Dr {prof.given} {prof.family}",
                                reason="Validation de la proposition de la RCP", location=est.city)
        doc.cda, doc.sha256 = cda_bytes, sha256(cda_bytes)
        doc.pdf, doc.pdf_sha256 = pdf_bytes, sha256(pdf_bytes)
        doc.signed_at = now
        advance(doc, d.DocumentStatus.SIGNED)
        destinations = destinations_for(uow, doc, cda)
        if doc.replaces_id:
            destinations += _supersede(uow, doc, actor=prof.login or prof.rpps)
        for destination in dict.fromkeys(destinations):
            uow.session.add(m.OutboxMessage(document_id=doc.id, destination=destination, next_attempt_at=now))
        record_audit(uow, actor=prof.login or prof.rpps, action="document.sign", entity="document",
                     entity_id=doc.id, patient_id=doc.patient_id, detail={"unique_id": doc.unique_id})
        signed.append(doc.id)
    uow.session.flush()
    uow.commit()
    return signed


def _supersede(uow: UnitOfWork, doc: m.Document, *, actor: str) -> list[str]:
    """A new version is signed: the version it replaces becomes `superseded` (same transaction).
    Returns the destinations the replaced version was sent to (they receive the replacement too)."""
    old = uow.session.get(m.Document, doc.replaces_id)
    if old is None or old.status not in (d.DocumentStatus.SIGNED.value, d.DocumentStatus.DELIVERED.value,
                                         d.DocumentStatus.FAILED.value):
        raise SignatureRefused(f"Le document « {doc.unique_id} » remplace une version qui n'est plus "
                               "valide (déjà remplacée ou non signée).")
    advance(old, d.DocumentStatus.SUPERSEDED)
    record_audit(uow, actor=actor, action="document.supersede", entity="document", entity_id=old.id,
                 patient_id=old.patient_id, detail={"unique_id": old.unique_id, "replaced_by": doc.unique_id,
                                                    "version": doc.version})
    return [o.destination for o in repo.outbox_for_documents(uow.session, [old.id])]


def audit_store(uow: UnitOfWork) -> list[str]:
    """French description of every document whose stored SHA-256 differs from its bytes."""
    problems = []
    for doc in repo.all_documents(uow.session):
        if sha256(doc.cda) != doc.sha256:
            problems.append(f"{doc.unique_id} ({doc.kind}) : l'empreinte SHA-256 du CDA ne correspond pas.")
        if sha256(doc.pdf) != doc.pdf_sha256:
            problems.append(f"{doc.unique_id} ({doc.kind}) : l'empreinte SHA-256 du PDF ne correspond pas.")
    return problems


__all__ = ["GenerationResult", "RegenerationResult", "audit_store", "generate_documents", "regenerate_case_documents",
           "sign_documents", "SignatureRefused"]
