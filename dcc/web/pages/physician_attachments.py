"""Physician pages: the attachments of a case (pathology and imaging reports, letters), each downloadable and,
after an explicit confirmation, shared with the patient's national record (DMP) as a CDA N1 document whose
author is the physician (dcc.services.sharing: the same service as `POST /api/v1/attachments/{id}/share`).
Refusals (already shared, type not accepted by the DMP, identity not qualified, patient opposed) come back to
this page with their French message and nothing written."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError
from dcc.services import attachments as service
from dcc.services import sharing
from dcc.web.deps import Uow
from dcc.web.downloads import content_disposition
from dcc.web.pages import _scope as scope
from dcc.web.pages._attachments import attachment_in_case
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, redirect, render, require_role

router = APIRouter(prefix="/medecin/dossiers/{case_id}/pieces-jointes", route_class=PageRoute,
                   include_in_schema=False)
Physician = Annotated[PageUser, Depends(require_role("physician"))]


@router.get("", response_class=HTMLResponse)
def attachments_page(request: Request, case_id: str, user: Physician, uow: Uow) -> Response:
    case = scope.case_for_physician(uow, user, case_id)
    rows = [{"a": a, "types": sharing.share_types(a.category)} for a in service.list_attachments(uow, case.id)]
    return render(request, "physician/attachments.html.j2", {"case": case, "rows": rows,
                                                             "categories": service.CATEGORIES})


@router.get("/{attachment_id}/fichier")
def download(case_id: str, attachment_id: str, user: Physician, uow: Uow) -> Response:
    case = scope.case_for_physician(uow, user, case_id)
    attachment_in_case(uow, case.id, attachment_id)
    view, content = service.read_attachment(uow, attachment_id, actor=user.login)
    return Response(content, media_type=view.media_type, headers={
        "Content-Disposition": content_disposition(view.filename), "Cache-Control": "no-store"})


@router.post("/{attachment_id}/partager")
def share(case_id: str, attachment_id: str, user: Physician, uow: Uow, form: CsrfForm) -> Response:
    case = scope.case_for_physician(uow, user, case_id)
    attachment_in_case(uow, case.id, attachment_id)
    back = f"/medecin/dossiers/{case.id}/pieces-jointes"
    try:
        shared = sharing.share_attachment(uow, attachment_id=attachment_id, professional_id=user.professional_id,
                                          actor=user.login, type_code=str(form.get("type_code") or "") or None,
                                          confirm=form.get("confirmation") == "oui")
    except DccError as exc:
        uow.rollback()
        return redirect(back, f"Partage refusé : {exc.message}")
    return redirect(back, f"Pièce jointe partagée avec le DMP ({shared.type_label}) : elle part par la file "
                          "d'envoi, comme les autres documents.")
