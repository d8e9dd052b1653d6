"""Documents (Fiche RCP, PPS): metadata, CDA and PDF (scoped by the user; every read is audited), and the
patient's visibility choices: the announcement consultation (the document becomes visible to the patient
in the DMP) and masking from professionals."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dcc.errors import ValidationFailed
from dcc.services import access, consent, queries
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import DocumentOut, error_responses

router = APIRouter(prefix="/api/v1/documents", tags=["Documents"], route_class=ApiRoute)


def _read(uow: UnitOfWork, user: User, document_id: str, what: str) -> queries.DocumentRecord:
    access.require(uow, user, "document", document_id, access.document_filter(user), action=what)
    doc = queries.get_document(uow, document_id)
    access.record_read(uow, user, action=f"document.{what}", entity="document", entity_id=document_id,
                       patient_ids=[doc.patient_id], detail={"unique_id": doc.unique_id, "status": doc.status})
    return doc


@router.get("/{document_id}", response_model=DocumentOut, summary="Métadonnées d'un document",
            responses=error_responses(404))
def get_document(document_id: str, uow: Uow, user: CurrentUser) -> DocumentOut:
    return DocumentOut.model_validate(_read(uow, user, document_id, "read"))


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/{document_id}/cda", summary="Le CDA du document", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}, **error_responses(404)})
def get_cda(document_id: str, uow: Uow, user: CurrentUser) -> Response:
    doc = _read(uow, user, document_id, "cda_read")
    return _attachment(doc.cda, "application/xml", f"{doc.kind.lower()}-v{doc.version}-{doc.id}.xml")


@router.get("/{document_id}/pdf", summary="Le PDF du document", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}, **error_responses(404)})
def get_pdf(document_id: str, uow: Uow, user: CurrentUser) -> Response:
    doc = _read(uow, user, document_id, "pdf_read")
    return _attachment(doc.pdf, "application/pdf", f"{doc.kind.lower()}-v{doc.version}-{doc.id}.pdf")


class AnnouncementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: AwareDatetime | None = Field(None, description="Date et heure de la consultation d'annonce "
                                       "(avec fuseau ; par défaut : maintenant)")


class VisibilityOut(BaseModel):
    document_id: str
    announced: bool
    masked: bool
    metadata_updates: int = Field(description="Mises à jour des métadonnées du DMP mises en file (même document, "
                                  "pas de nouveau dépôt)")


class MaskingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    masked: bool = Field(True, description="true : masquer aux professionnels (MASQUE_PS) ; false : démasquer")


def _visibility(uow: UnitOfWork, document_id: str, updates: list[str]) -> VisibilityOut:
    doc = queries.get_document(uow, document_id)
    return VisibilityOut(document_id=doc.id, announced=doc.announced_at is not None, masked=doc.masked_ps,
                         metadata_updates=len(updates))


@router.post("/{document_id}/announcement", response_model=VisibilityOut, summary="Consultation d'annonce faite",
             description="La consultation d'annonce a eu lieu : le document devient visible du patient dans son DMP "
             "(mise à jour des métadonnées, même identifiant). Coordonnateur ou équipe de soins.",
             responses=error_responses(404, 409, 413, 422))
def announcement(document_id: str, data: AnnouncementIn, uow: Uow, user: CurrentUser) -> VisibilityOut:
    access.require(uow, user, "document", document_id, access.consent_document_filter(user),
                   action="announcement")
    now = access.now_utc()
    when = data.when or now
    if when > now + timedelta(minutes=5):
        raise ValidationFailed("La consultation d'annonce ne peut pas être datée dans le futur.", field="when")
    if when < datetime(2000, 1, 1, tzinfo=when.tzinfo):
        raise ValidationFailed("Date de consultation d'annonce invraisemblable.", field="when")
    updates = consent.record_announcement(uow, document_id=document_id, when=when, actor=user.login)
    return _visibility(uow, document_id, updates)


@router.post("/{document_id}/masking", response_model=VisibilityOut, summary="Masquer aux professionnels",
             description="À la demande du patient, masque le document aux professionnels (MASQUE_PS) ou lève "
             "le masquage ; le DMP est mis à jour sans nouveau dépôt. Coordonnateur ou équipe de soins.",
             responses=error_responses(404, 409, 413, 422))
def masking(document_id: str, data: MaskingIn, uow: Uow, user: CurrentUser) -> VisibilityOut:
    access.require(uow, user, "document", document_id, access.consent_document_filter(user), action="masking")
    updates = consent.record_masking(uow, document_id=document_id, actor=user.login, masked=data.masked)
    return _visibility(uow, document_id, updates)
