"""Files attached to a case (PDF, JPEG): add (checked by content, cleaned, SHA-256), list, read, remove.
An attachment is immutable once its case is discussed (decision recorded or session held): the board read
it. Every action is audited. The caller (web layer) checks the user's access to the case first."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from sqlalchemy import bindparam, select
from sqlalchemy.orm import defer

from dcc.adapters.attachments import check_file
from dcc.adapters.db import models as m
from dcc.domain.states import CaseStatus, SessionStatus
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.uow import UnitOfWork

MAX_BYTES = 20 * 1024 * 1024
CATEGORIES = {"pathology": "compte rendu d'anatomopathologie", "imaging": "compte rendu d'imagerie",
              "letter": "courrier", "other": "autre"}


@dataclass(frozen=True)
class AttachmentView:
    id: str
    case_id: str
    category: str
    title: str
    filename: str
    media_type: str
    size: int
    sha256: str
    viewer_url: str
    created_by: str
    created_at: datetime
    locked: bool
    shared_document_id: str | None = None  # the N1 document it was shared to the DMP as (dcc.services.sharing)


# built once (the case page lists the attachments on every read)
_DECISION_OF = select(m.Decision.id).where(m.Decision.case_id == bindparam("case_id"))
_SESSION_STATUS = select(m.Session.status).where(m.Session.id == bindparam("session_id"))
_ATTACHMENTS_OF = (select(m.Attachment).options(defer(m.Attachment.content))
                   .where(m.Attachment.case_id == bindparam("case_id"))
                   .order_by(m.Attachment.created_at, m.Attachment.id))


def _discussed(uow: UnitOfWork, case: m.Case) -> bool:
    if case.status in (CaseStatus.DECIDED.value, CaseStatus.REPRESENTED.value):
        return True
    if uow.session.scalar(_DECISION_OF, {"case_id": case.id}) is not None:
        return True
    if case.session_id:
        status = uow.session.scalar(_SESSION_STATUS, {"session_id": case.session_id})
        return status in (SessionStatus.HELD.value, SessionStatus.VALIDATED.value)
    return False


def _case(uow: UnitOfWork, case_id: str) -> m.Case:
    case = uow.session.get(m.Case, case_id)
    if case is None:
        raise NotFound(f"Le dossier « {case_id} » n'existe pas.")
    return case


def _view(a: m.Attachment, locked: bool) -> AttachmentView:
    return AttachmentView(id=a.id, case_id=a.case_id, category=a.category, title=a.title, filename=a.filename,
                          media_type=a.media_type, size=a.size, sha256=a.sha256, viewer_url=a.viewer_url,
                          created_by=a.created_by, created_at=a.created_at, locked=locked,
                          shared_document_id=a.shared_document_id)


def add_attachment(uow: UnitOfWork, *, case_id: str, data: bytes, filename: str, title: str, category: str,
                   actor: str, viewer_url: str = "", max_bytes: int = MAX_BYTES) -> AttachmentView:
    """Check (type by magic bytes, size, PDF without active content), clean (JPEG metadata) and store; all or
    nothing: a refused file writes nothing, not even an audit entry of a half-stored file."""
    if category not in CATEGORIES:
        raise ValidationFailed(f"Catégorie « {category} » inconnue (attendu : {', '.join(CATEGORIES)}).",
                               field="category")
    title = title.strip()
    if not title or len(title) > 200:
        raise ValidationFailed("Le titre est obligatoire (200 caractères au plus).", field="title")
    if viewer_url and (urlparse(viewer_url).scheme != "https" or len(viewer_url) > 500):
        raise ValidationFailed("Le lien vers la visionneuse d'images doit être une adresse https.",
                               field="viewer_url")
    clean = check_file(data, max_bytes=max_bytes)  # before any write
    uow.begin_write()
    case = _case(uow, case_id)
    if _discussed(uow, case):
        raise Conflict("Le dossier a déjà été discuté : ses pièces jointes ne peuvent plus être modifiées.")
    name = (filename or "piece-jointe").replace("/", "_").replace("\\", "_")[:200]
    a = m.Attachment(case_id=case.id, patient_id=case.patient_id, category=category, title=title,
                     filename=name, media_type=clean.media_type, size=len(clean.data),
                     sha256=hashlib.sha256(clean.data).hexdigest(), content=clean.data, viewer_url=viewer_url,
                     created_by=actor, created_at=m.utcnow())
    uow.session.add(a)
    uow.session.flush()
    record_audit(uow, actor=actor, action="attachment.add", entity="attachment", entity_id=a.id,
                 patient_id=case.patient_id, detail={"case_id": case.id, "sha256": a.sha256, "size": a.size,
                                                     "media_type": a.media_type, "cleaned": clean.cleaned})
    uow.commit()
    return _view(a, False)


def list_attachments(uow: UnitOfWork, case_id: str) -> list[AttachmentView]:
    case = _case(uow, case_id)
    locked = _discussed(uow, case)
    return [_view(a, locked) for a in uow.session.scalars(_ATTACHMENTS_OF, {"case_id": case_id})]


def attachments_of_cases(uow: UnitOfWork, case_ids: list[str]) -> dict[str, list[AttachmentView]]:
    """The attachments of several cases (meeting mode), without their content, oldest first."""
    out: dict[str, list[AttachmentView]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return out
    cases = {c.id: c for c in uow.session.scalars(select(m.Case).where(m.Case.id.in_(case_ids)))}
    locked = {case_id: _discussed(uow, c) for case_id, c in cases.items()}
    for a in uow.session.scalars(select(m.Attachment).options(defer(m.Attachment.content))
                                 .where(m.Attachment.case_id.in_(case_ids))
                                 .order_by(m.Attachment.created_at, m.Attachment.id)):
        out[a.case_id].append(_view(a, locked.get(a.case_id, True)))
    return out


def read_attachment(uow: UnitOfWork, attachment_id: str, *, actor: str) -> tuple[AttachmentView, bytes]:
    a = uow.session.get(m.Attachment, attachment_id)
    if a is None:
        raise NotFound(f"La pièce jointe « {attachment_id} » n'existe pas.")
    if hashlib.sha256(a.content).hexdigest() != a.sha256:
        raise Conflict("La pièce jointe stockée ne correspond plus à son empreinte SHA-256 : contactez "
                       "l'administrateur.")
    record_audit(uow, actor=actor, action="attachment.read", entity="attachment", entity_id=a.id,
                 patient_id=a.patient_id, detail={"case_id": a.case_id})
    uow.commit()
    return _view(a, _discussed(uow, _case(uow, a.case_id))), a.content


def remove_attachment(uow: UnitOfWork, attachment_id: str, *, actor: str) -> None:
    uow.begin_write()
    a = uow.session.get(m.Attachment, attachment_id)
    if a is None:
        raise NotFound(f"La pièce jointe « {attachment_id} » n'existe pas.")
    if _discussed(uow, _case(uow, a.case_id)):
        raise Conflict("Le dossier a déjà été discuté : ses pièces jointes ne peuvent plus être modifiées.")
    record_audit(uow, actor=actor, action="attachment.remove", entity="attachment", entity_id=a.id,
                 patient_id=a.patient_id, detail={"case_id": a.case_id, "sha256": a.sha256})
    uow.session.delete(a)
    uow.commit()


def attachment_case_id(uow: UnitOfWork, attachment_id: str) -> str:
    """The case an attachment belongs to (the caller checks the user's access to that case)."""
    case_id = uow.session.scalar(select(m.Attachment.case_id).where(m.Attachment.id == attachment_id))
    if case_id is None:
        raise NotFound(f"La pièce jointe « {attachment_id} » n'existe pas.")
    return str(case_id)
