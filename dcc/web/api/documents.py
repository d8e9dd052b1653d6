"""Documents (Fiche RCP, PPS): metadata, CDA and PDF. Scoped by the user; every read is audited."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dcc.adapters.db import models as m
from dcc.services import access, queries
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Uow
from dcc.web.schemas import DocumentOut, error_responses

router = APIRouter(prefix="/api/v1/documents", tags=["Documents"])


def _read(uow: UnitOfWork, user: User, document_id: str, what: str) -> m.Document:
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
