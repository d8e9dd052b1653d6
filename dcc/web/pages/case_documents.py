"""The documents of a case for the coordinator: a version's PDF as a download (the access rule of the API,
the read audited). The list itself is on the case page (`worklists.case_documents`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dcc.errors import NotFound
from dcc.services import worklists
from dcc.web.deps import Uow
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import PageRoute, PageUser, require_role

router = APIRouter(prefix="/coordination/dossiers/{case_id}/documents", route_class=PageRoute,
                   include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]


@router.get("/{document_id}/document.pdf")
def document_pdf(case_id: str, document_id: str, user: Coordinator, uow: Uow) -> Response:
    scope.case_for_coordinator(uow, user, case_id)
    if document_id not in {d.id for d in worklists.case_documents(uow, case_id)}:
        raise NotFound(f"Document « {document_id} » introuvable.")
    doc = worklists.read_document(uow, user, document_id)
    return Response(doc.content, media_type=doc.media_type, headers={
        "Content-Disposition": f'attachment; filename="{doc.filename}"', "Cache-Control": "no-store"})
