"""Sharing a case attachment with the patient's national record (DMP) as a CDA N1 document.

A physician chooses to share one attachment, after a confirmation. The attachment becomes an N1 document
(dcc.adapters.cda.n1: the generic "structuration minimale" model, non-structured body holding the PDF or JPEG)
whose author and legal authenticator is that physician, dated when they share it, of the JDV_J07 type the
attachment's kind stands for. It is stored as a document of kind `N1`, already `signed` (the physician's
decision to share is the act of validation; the file itself is not ours to sign), and queued in the same
outbox as the Fiche RCP and the PPS, to the national record only: the dispatcher applies the patient's
consent and visibility there (opposition: blocked; invisible to the patient until the announcement
consultation; masking). An attachment is shared at most once (`attachment.shared_document_id`, unique).

Refused, with nothing written: a user who is not a physician of the directory; a kind the national record
has no type for (« autre »); an unqualified identity (INS); a patient who opposed feeding the DMP; an
attachment already shared; no confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dcc import valuesets
from dcc.adapters.cda.n1 import N1Content, build_n1
from dcc.adapters.db import models as m
from dcc.domain import documents as d
from dcc.domain.states import DocumentStatus, advance
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.content import Loader, _org, new_oid
from dcc.services.documents import sha256
from dcc.services.uow import UnitOfWork

N1_KIND = "N1"
N1_TEMPLATE = "CI-SIS structuration minimale N1"

# The JDV_J07_XdsTypeCode_CISIS types an attachment's kind (as the user entered it) may be shared as. A report's
# kind names one type; a letter is one of two, which the physician states when sharing; « autre » has none.
SHAREABLE_TYPES: dict[str, tuple[str, ...]] = {
    "pathology": ("60568-3",),  # CR d'anatomie et de cytologie pathologiques
    "imaging": ("18748-4",),  # CR d'imagerie médicale
    "letter": ("96349-6", "11488-4"),  # Lettre d'adressage ; CR ou fiche de consultation ou de visite
}


@dataclass(frozen=True)
class SharedAttachment:
    attachment_id: str
    document_id: str
    unique_id: str
    type_code: str
    type_label: str
    shared_at: datetime
    shared_by: str


def share_types(category: str) -> list[d.Code]:
    """The JDV_J07 types an attachment of this kind may be shared as (empty: it may not be shared)."""
    return [valuesets.lookup("JDV_J07_XdsTypeCode_CISIS", code) for code in SHAREABLE_TYPES.get(category, ())]


def _type_for(category: str, type_code: str | None) -> d.Code:
    allowed = SHAREABLE_TYPES.get(category)
    if not allowed:
        raise ValidationFailed("Ce type de pièce jointe (« autre ») ne peut pas être partagé avec le DMP : "
                               "le DMP n'accepte que des types de documents définis (compte rendu "
                               "d'anatomopathologie, compte rendu d'imagerie, courrier).", field="type_code")
    if type_code is None and len(allowed) == 1:
        type_code = allowed[0]
    if type_code not in allowed:
        labels = ", ".join(f"{c.code} ({c.display})" for c in share_types(category))
        raise ValidationFailed(f"Précisez le type du document partagé : {labels}.", field="type_code")
    return valuesets.lookup("JDV_J07_XdsTypeCode_CISIS", type_code)


def share_attachment(uow: UnitOfWork, *, attachment_id: str, professional_id: str | None, actor: str,
                     type_code: str | None = None, confirm: bool = False) -> SharedAttachment:
    """Share one attachment with the national record (see the module docstring); all or nothing."""
    if not confirm:
        raise ValidationFailed("Confirmez le partage de la pièce jointe avec le DMP du patient.", field="confirm")
    uow.begin_write()
    s = uow.session
    q = select(m.Attachment).where(m.Attachment.id == attachment_id)
    if s.get_bind().dialect.name != "sqlite":
        q = q.with_for_update()  # two physicians sharing at once: the second waits, then sees it shared
    a = s.scalars(q).first()
    if a is None:
        raise NotFound(f"La pièce jointe « {attachment_id} » n'existe pas.")
    prof = s.get(m.Professional, professional_id) if professional_id else None
    if prof is None or not prof.is_physician:
        raise ValidationFailed("Seul un médecin enregistré dans l'annuaire peut partager une pièce jointe avec "
                               "le DMP (il en devient l'auteur).", field="professional")
    if a.shared_document_id is not None:
        raise Conflict("Cette pièce jointe a déjà été partagée avec le DMP : elle ne l'est qu'une fois.")
    doc_type = _type_for(a.category, type_code)
    patient = s.get(m.Patient, a.patient_id)
    case = s.get(m.Case, a.case_id)
    assert patient is not None and case is not None
    if patient.dmp_opposition:
        raise Conflict("Le patient s'est opposé à l'alimentation de son DMP : la pièce jointe n'y est pas "
                       "partagée.")
    if not patient.ins_qualified or not patient.ins_matricule:
        raise Conflict("Identité du patient non qualifiée (INS) : le partage avec le DMP n'est possible "
                       "qu'une fois l'identité qualifiée.")
    board = s.get(m.Board, case.board_id)
    assert board is not None
    loader = Loader(uow)
    est = loader.establishment(board.establishment_id)
    region = s.get(m.Region, est.region_id)
    assert region is not None
    now = m.utcnow()
    unique_id = new_oid()
    cda = build_n1(N1Content(
        ids=d.DocumentIds(unique_id, new_oid()), type_code=doc_type, title=a.title, shared_at=now,
        patient=loader.patient(patient, est), sharer=loader.professional(prof.id), custodian=_org(est),
        board=loader.board(board), media_type=a.media_type, data=a.content))
    pdf = a.content if a.media_type == "application/pdf" else b""
    doc = m.Document(case_id=case.id, patient_id=patient.id, kind=N1_KIND, set_id=unique_id, version=1,
                     unique_id=unique_id, cda=cda, pdf=pdf, sha256=sha256(cda), pdf_sha256=sha256(pdf),
                     status=DocumentStatus.DRAFT.value, template_version=N1_TEMPLATE, signer_id=prof.id,
                     created_at=now)
    advance(doc, DocumentStatus.SIGNED)
    doc.signed_at = now
    s.add(doc)
    s.flush()
    a.shared_document_id = doc.id
    # the national record only: secure messaging carries the board's own documents, not the case's files
    s.add(m.OutboxMessage(document_id=doc.id, destination=f"dmp:{region.code}", next_attempt_at=now))
    record_audit(uow, actor=actor, action="attachment.share", entity="attachment", entity_id=a.id,
                 patient_id=patient.id, detail={"case_id": case.id, "document_id": doc.id, "unique_id": unique_id,
                                                "type_code": doc_type.code, "sha256": a.sha256})
    uow.commit()
    return SharedAttachment(attachment_id=a.id, document_id=doc.id, unique_id=unique_id, type_code=doc_type.code,
                            type_label=doc_type.display, shared_at=now, shared_by=actor)
