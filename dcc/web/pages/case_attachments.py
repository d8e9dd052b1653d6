"""Attachments of a case for the coordinator (case page and meeting mode): upload a PDF or JPEG, download it
(read audited), remove it before the discussion. Same service and access rule as the JSON API; a refused file
comes back to the case page with its French message and nothing stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from dcc.errors import DccError
from dcc.services import attachments as service
from dcc.web.deps import Uow
from dcc.web.downloads import content_disposition
from dcc.web.pages import _scope as scope
from dcc.web.pages._attachments import attachment_in_case
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, redirect, require_role

router = APIRouter(prefix="/coordination/dossiers/{case_id}/pieces-jointes", route_class=PageRoute,
                   include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]


@router.post("")
def upload(case_id: str, user: Coordinator, uow: Uow, form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    back = f"/coordination/dossiers/{case.id}"
    upload_file = form.get("fichier")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return redirect(back, "Pièce jointe refusée : choisissez un fichier PDF ou JPEG.")
    data = upload_file.file.read(service.MAX_BYTES + 1)
    try:
        view = service.add_attachment(uow, case_id=case.id, data=data, filename=upload_file.filename,
                                      title=str(form.get("titre") or ""), category=str(form.get("categorie") or ""),
                                      actor=user.login, viewer_url=str(form.get("visionneuse") or "").strip())
    except DccError as exc:
        uow.rollback()
        return redirect(back, f"Pièce jointe refusée : {exc.message}")
    return redirect(back, f"Pièce jointe « {view.title} » ajoutée au dossier.")


@router.get("/{attachment_id}/fichier")
def download(case_id: str, attachment_id: str, user: Coordinator, uow: Uow) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    attachment_in_case(uow, case.id, attachment_id)
    view, content = service.read_attachment(uow, attachment_id, actor=user.login)
    return Response(content, media_type=view.media_type, headers={
        "Content-Disposition": content_disposition(view.filename), "Cache-Control": "no-store"})


@router.post("/{attachment_id}/retirer")
def remove(case_id: str, attachment_id: str, user: Coordinator, uow: Uow, form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    attachment_in_case(uow, case.id, attachment_id)
    back = f"/coordination/dossiers/{case.id}"
    try:
        service.remove_attachment(uow, attachment_id, actor=user.login)
    except DccError as exc:
        return redirect(back, f"Retrait refusé : {exc.message}")
    return redirect(back, "Pièce jointe retirée du dossier.")
