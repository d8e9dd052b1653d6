"""Documents (Fiche RCP, PPS): metadata, CDA and PDF."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dcc.services import queries
from dcc.web.deps import Uow
from dcc.web.schemas import DocumentOut, error_responses

router = APIRouter(prefix="/api/v1/documents", tags=["Documents"])


@router.get("/{document_id}", response_model=DocumentOut, summary="Métadonnées d'un document",
            responses=error_responses(404))
def get_document(document_id: str, uow: Uow) -> DocumentOut:
    return DocumentOut.model_validate(queries.get_document(uow, document_id))


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/{document_id}/cda", summary="Le CDA du document", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}, **error_responses(404)})
def get_cda(document_id: str, uow: Uow) -> Response:
    doc = queries.get_document(uow, document_id)
    return _attachment(doc.cda, "application/xml", f"{doc.kind.lower()}-v{doc.version}-{doc.id}.xml")


@router.get("/{document_id}/pdf", summary="Le PDF du document", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}, **error_responses(404)})
def get_pdf(document_id: str, uow: Uow) -> Response:
    doc = queries.get_document(uow, document_id)
    return _attachment(doc.pdf, "application/pdf", f"{doc.kind.lower()}-v{doc.version}-{doc.id}.pdf")
