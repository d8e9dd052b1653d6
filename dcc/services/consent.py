"""Consent, identity and visibility decisions that govern what reaches the national record (DMP).

- Opposition of the patient to feeding the DMP: the patient's messages are never sent (`blocked`, reason
  recorded and shown); lifting it releases them.
- Identity qualification (INS): messages of a patient without a qualified INS are `held`; qualifying the
  identity releases them at once (the dispatcher also re-checks held messages on every pass).
- Announcement consultation: until it is recorded, documents are sent with `INVISIBLE_PATIENT`; recording
  it enqueues a metadata update (same uniqueId, no resubmission) for each destination.
- Masking from professionals (`MASQUE_PS`) when the patient asks: carried by the (re)submission, or by a
  metadata update once the document is in the DMP.
- A minor's secret from their legal representatives (CSP art. L1111-5; DMP integration guide EX_2.1-1050: a
  minor's document says whether the legal representatives see it): recorded on the patient, only for a minor
  on the day it is recorded, never inferred from the age alone; every document of the patient then carries
  `INVISIBLE_REPRESENTANTS_LEGAUX` (submission, or metadata update once in the DMP); lifting it removes it.

The dispatcher (dcc.services.delivery) checks consent and identity again right before each send, so a
decision recorded while a message is already claimed still applies. Every decision is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from dcc.adapters.db import models as m
from dcc.domain.ports import CdaBuilder, PdfRenderer
from dcc.domain.states import OutboxState, advance
from dcc.errors import Conflict, NotFound
from dcc.services.audit import record_audit
from dcc.services.delivery import DMP_PREFIX, METADATA_UPDATE, REASON_OPPOSITION, SUBMIT
from dcc.services.documents import RegenerationResult, regenerate_case_documents
from dcc.services.uow import UnitOfWork

OM = m.OutboxMessage


def _patient(uow: UnitOfWork, patient_id: str) -> m.Patient:
    patient = uow.session.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound(f"Patient « {patient_id} » introuvable.")
    return patient


def _document(uow: UnitOfWork, document_id: str) -> m.Document:
    doc = uow.session.get(m.Document, document_id)
    if doc is None:
        raise NotFound(f"Document « {document_id} » introuvable.")
    return doc


def _patient_messages(uow: UnitOfWork, patient_id: str, states: tuple[str, ...],
                      now: datetime, *, national_record_only: bool = False) -> list[m.OutboxMessage]:
    """Messages of the patient's documents in `states`, not currently leased by a dispatcher (a leased one
    is re-checked by its dispatcher before sending); only those to the national record if asked."""
    q = (select(OM).join(m.Document, m.Document.id == OM.document_id)
         .where(m.Document.patient_id == patient_id, OM.state.in_(states),
                or_(OM.lease_until.is_(None), OM.lease_until < now))
         .order_by(OM.id))
    if national_record_only:
        q = q.where(OM.destination.like(f"{DMP_PREFIX}%"))
    return list(uow.session.scalars(q).all())


def record_opposition(uow: UnitOfWork, *, patient_id: str, actor: str, opposed: bool = True, reason: str = "",
                      now: datetime | None = None) -> int:
    """Record (or lift) the patient's opposition to feeding the DMP. Opposed: pending and held messages to
    the national record become `blocked` with the reason (mails to the GP and correspondents still go: the
    opposition concerns the DMP, not the care team's information). Lifted: blocked messages become due
    again (consent and identity are re-checked before sending). Returns the number of messages changed."""
    now = now or datetime.now(UTC)
    patient = _patient(uow, patient_id)
    patient.dmp_opposition = opposed
    record_audit(uow, actor=actor, action="patient.dmp_opposition" if opposed else "patient.dmp_opposition_lifted",
                 entity="patient", entity_id=patient.id, patient_id=patient.id, detail={"reason": reason})
    changed = 0
    if opposed:
        text = REASON_OPPOSITION + (f" Motif : {reason}" if reason else "")
        for msg in _patient_messages(uow, patient.id, ("pending", "held"), now, national_record_only=True):
            advance(msg, OutboxState.BLOCKED)
            msg.hold_reason, msg.last_error = text, text
            msg.lease_owner, msg.lease_until = None, None
            record_audit(uow, actor=actor, action="delivery.block", entity="outbox_message", entity_id=msg.id,
                         patient_id=patient.id, detail={"destination": msg.destination, "kind": msg.kind})
            changed += 1
    else:
        for msg in _patient_messages(uow, patient.id, ("blocked",), now):
            advance(msg, OutboxState.PENDING)
            msg.hold_reason, msg.last_error, msg.next_attempt_at = "", "", now
            record_audit(uow, actor=actor, action="delivery.release", entity="outbox_message", entity_id=msg.id,
                         patient_id=patient.id, detail={"destination": msg.destination, "kind": msg.kind})
            changed += 1
    uow.commit()
    return changed


def qualify_identity(uow: UnitOfWork, patient_id: str, actor: str, *, now: datetime | None = None,
                     cda: CdaBuilder | None = None, pdf: PdfRenderer | None = None) -> int:
    """The patient's INS is qualified (identity checked against the national teleservice): held messages
    of the patient become due at once. Returns the number released.

    With the document builders (`cda`, `pdf`: every web entry point passes them), the unsigned documents of
    the patient's decided cases are regenerated in the same use case, right after the qualification is
    committed: drafts generated without the INS are replaced, cases refused for a missing identifier are
    retried (`regenerate_identity_documents`). A patient without INS cannot be qualified (409)."""
    now = now or datetime.now(UTC)
    patient = _patient(uow, patient_id)
    if not patient.ins_matricule:
        raise Conflict("Le patient n'a pas d'INS : récupérez-la (téléservice INSi) avant de qualifier son "
                       "identité. Sans INS qualifiée, rien n'est envoyé au DMP.")
    was = patient.ins_qualified
    patient.ins_qualified = True
    record_audit(uow, actor=actor, action="patient.identity_qualify", entity="patient", entity_id=patient.id,
                 patient_id=patient.id, detail={"already_qualified": was})
    released = 0
    if not patient.dmp_opposition:
        for msg in _patient_messages(uow, patient.id, ("held",), now):
            if msg.kind != SUBMIT:
                continue  # a held metadata update waits for its own cause (re-checked by the dispatcher)
            advance(msg, OutboxState.PENDING)
            msg.hold_reason, msg.last_error, msg.next_attempt_at = "", "", now
            record_audit(uow, actor=actor, action="delivery.release", entity="outbox_message", entity_id=msg.id,
                         patient_id=patient.id, detail={"destination": msg.destination, "kind": msg.kind})
            released += 1
    uow.commit()
    if cda is not None and pdf is not None:
        regenerate_identity_documents(uow, patient_id, actor, cda=cda, pdf=pdf)
    return released


def regenerate_identity_documents(uow: UnitOfWork, patient_id: str, actor: str, *, cda: CdaBuilder,
                                  pdf: PdfRenderer) -> dict[str, RegenerationResult]:
    """Regenerate the unsigned documents of the patient's decided cases (after an identity change): cases
    with drafts or refused for missing data, and none of whose documents is signed (those follow the
    correction path). Returns the result per case id."""
    out: dict[str, RegenerationResult] = {}
    cases = uow.session.scalars(select(m.Case).where(m.Case.patient_id == patient_id, m.Case.status == "decided")
                                .order_by(m.Case.created_at, m.Case.id)).all()
    due = []
    for case in cases:
        docs = uow.session.scalars(select(m.Document.status).where(m.Document.case_id == case.id)).all()
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case.id)).first()
        if decision is None or not decision.locked or any(st != "draft" for st in docs):
            continue
        if docs or case.documents_missing:
            due.append(case.id)
    for case_id in due:
        out[case_id] = regenerate_case_documents(uow, case_id, actor, cda, pdf)
    return out


def _enqueue_metadata_updates(uow: UnitOfWork, doc: m.Document, now: datetime) -> list[str]:
    """One metadata update per national-record destination the document goes to (re-armed if it exists).
    The dispatcher sends it once the document is in the DMP, or closes it when the submission already
    carries the codes. Secure messaging (`mss:`) has no metadata to update: a mail once sent is final."""
    out: list[str] = []
    submits = uow.session.scalars(select(OM).where(OM.document_id == doc.id, OM.kind == SUBMIT,
                                                   OM.destination.like(f"{DMP_PREFIX}%"))
                                  .order_by(OM.destination)).all()
    for submit in submits:
        if submit.state == OutboxState.BLOCKED:
            continue
        existing = uow.session.scalars(select(OM).where(OM.document_id == doc.id,
                                                        OM.destination == submit.destination,
                                                        OM.kind == METADATA_UPDATE)).first()
        if existing is None:
            existing = OM(document_id=doc.id, destination=submit.destination, kind=METADATA_UPDATE,
                          next_attempt_at=now)
            uow.session.add(existing)
            uow.session.flush()
        else:
            # re-arm; clearing the lease makes an in-flight update lose it, so it is sent again with the
            # latest codes
            advance(existing, OutboxState.PENDING)
            existing.attempts, existing.next_attempt_at = 0, now
            existing.lease_owner, existing.lease_until, existing.hold_reason, existing.last_error = None, None, "", ""
        out.append(existing.id)
    return out


def record_announcement(uow: UnitOfWork, *, document_id: str, when: datetime, actor: str) -> list[str]:
    """The announcement consultation took place: the document becomes visible to the patient in the DMP
    (metadata update, same uniqueId). Idempotent. Returns the ids of the metadata-update messages."""
    doc = _document(uow, document_id)
    if doc.status == "draft":
        raise Conflict("Un brouillon n'est pas transmis au DMP : l'annonce se rapporte à un document signé.")
    if doc.announced_at is not None:
        return []
    doc.announced_at = when
    record_audit(uow, actor=actor, action="document.announce", entity="document", entity_id=doc.id,
                 patient_id=doc.patient_id, detail={"unique_id": doc.unique_id, "when": when.isoformat()})
    ids = _enqueue_metadata_updates(uow, doc, datetime.now(UTC))
    uow.commit()
    return ids


def record_masking(uow: UnitOfWork, *, document_id: str, actor: str, masked: bool = True,
                   now: datetime | None = None) -> list[str]:
    """The patient asks to mask the document from professionals (`MASQUE_PS`), or lifts the masking.
    Returns the ids of the metadata-update messages (none when nothing changes)."""
    now = now or datetime.now(UTC)
    doc = _document(uow, document_id)
    if doc.status == "draft":
        raise Conflict("Un brouillon n'est pas transmis au DMP : le masquage s'applique à un document signé.")
    if doc.masked_ps == masked:
        return []
    doc.masked_ps = masked
    record_audit(uow, actor=actor, action="document.mask" if masked else "document.unmask", entity="document",
                 entity_id=doc.id, patient_id=doc.patient_id, detail={"unique_id": doc.unique_id})
    ids = _enqueue_metadata_updates(uow, doc, now)
    uow.commit()
    return ids


MAJORITY_AGE = 18  # Code civil art. 388 / 414


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def record_minor_secret(uow: UnitOfWork, *, patient_id: str, actor: str, secret: bool = True,
                        now: datetime | None = None) -> list[str]:
    """The minor patient asks that their documents stay invisible to their legal representatives (secret of
    CSP art. L1111-5), or lifts that request. Refused (409, French) for a patient who is not a minor today:
    the DMP's legal representatives' access only exists for minors. Every signed document of the patient
    gets a metadata update towards the national record (the code is added, or removed); documents not sent
    yet carry it with their submission. Returns the ids of the metadata-update messages."""
    now = now or datetime.now(UTC)
    patient = _patient(uow, patient_id)
    if patient.secret_from_legal_representatives == secret:
        return []
    today = now.astimezone(ZoneInfo("Europe/Paris")).date()
    if secret and _age_on(patient.birth_date, today) >= MAJORITY_AGE:
        raise Conflict("Le patient est majeur : ses représentants légaux n'ont pas accès à son DMP, le secret "
                       "vis-à-vis d'eux ne s'applique qu'à un patient mineur.")
    patient.secret_from_legal_representatives = secret
    record_audit(uow, actor=actor, action="patient.minor_secret" if secret else "patient.minor_secret_lifted",
                 entity="patient", entity_id=patient.id, patient_id=patient.id, detail={})
    ids: list[str] = []
    docs = uow.session.scalars(select(m.Document).where(m.Document.patient_id == patient.id,
                                                        m.Document.status != "draft")
                               .order_by(m.Document.id)).all()
    for doc in docs:
        ids += _enqueue_metadata_updates(uow, doc, now)
    uow.commit()
    return ids


__all__ = ["qualify_identity", "record_announcement", "record_masking", "record_minor_secret", "record_opposition",
           "regenerate_identity_documents"]
