"""Break-the-glass in the pages (physicians): the case page of a patient outside the care team answers
"Introuvable" with a form asking for an emergency access (coded reason and text); once granted, the case is
shown for the configured time under a banner. See dcc.services.emergency."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.config import get_settings
from dcc.errors import DccError, NotFound
from dcc.services import emergency
from dcc.web.deps import Uow
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, redirect, render, require_role

router = APIRouter(prefix="/urgence", route_class=PageRoute, include_in_schema=False)
Physician = Annotated[PageUser, Depends(require_role("physician"))]


def _introuvable(request: Request, case_id: str, message: str, *, form: dict[str, Any] | None = None,
                 error: str = "") -> Response:
    return render(request, "emergency/not_found.html.j2", {
        "case_id": case_id, "message": message, "reasons": emergency.reasons(), "form": form or {},
        "error": error, "minutes": get_settings().break_glass_minutes}, status_code=404 if not error else 422)


@router.get("/dossiers/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, user: Physician, uow: Uow) -> Response:
    try:
        view = emergency.case_view(uow, user, case_id)
    except NotFound as exc:
        return _introuvable(request, case_id, exc.message)
    return render(request, "emergency/case.html.j2", {"view": view})


@router.post("/dossiers/{case_id}/acces", response_class=HTMLResponse)
def ask_access(request: Request, case_id: str, user: Physician, uow: Uow, form: CsrfForm) -> Response:
    reason_code, text = str(form.get("motif") or ""), str(form.get("justification") or "")
    try:
        grant = emergency.request_for_case(uow, user, case_id=case_id, reason_code=reason_code, text=text,
                                           minutes=get_settings().break_glass_minutes)
    except NotFound as exc:
        return _introuvable(request, case_id, exc.message)
    except DccError as exc:
        return _introuvable(request, case_id, "Dossier introuvable dans votre équipe de soins.",
                            form={"motif": reason_code, "justification": text}, error=exc.message)
    from dcc.web.pages._common import fr_datetime

    return redirect(f"/urgence/dossiers/{case_id}",
                    f"Accès d'urgence accordé jusqu'au {fr_datetime(grant.expires_at)} ; il est tracé et "
                    "l'observateur régional en est informé.")
