"""Meeting mode of a session (coordinator): the agenda in order with each case's summary, the sign-in sheet
(members, whose presence makes the quorum, updated live with htmx after each change; guests — external
experts, residents — who never count for it), the decision of each case entered during the meeting, and the
validation with its confirmation step. Actions call the services the JSON API calls; the time rules
(nothing before the session starts) are the services'."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from dcc.domain.quorum import requirement_label
from dcc.errors import DccError, NotFound, UndecidedCases
from dcc.services import attachments as attachment_services
from dcc.services import boards as board_services
from dcc.services import meeting as meeting_services
from dcc.web.deps import Now, Today, Uow
from dcc.web.pages import _decision
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import (
    CsrfForm,
    PageRoute,
    PageUser,
    after_validation,
    redirect,
    render,
    require_role,
)

router = APIRouter(prefix="/coordination/seances/{session_id}/reunion", route_class=PageRoute,
                   include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]

MODES = [("present", "présent"), ("remote", "à distance"), ("absent", "absent")]


def _context(uow: Any, user: PageUser, session_id: str) -> dict[str, Any]:
    scope.session_for_coordinator(uow, user, session_id)
    view = meeting_services.meeting_view(uow, session_id)
    s = view.agenda.session
    return {"meeting": view, "agenda": view.agenda, "s": s, "modes": MODES,
            "guest_kinds": meeting_services.GUEST_KINDS, "attachment_categories": attachment_services.CATEGORIES,
            "missing_labels": [requirement_label(c) for c in s.quorum_missing],
            "required_labels": [requirement_label(c) for c in view.required_specialties],
            "open": s.status not in ("validated", "cancelled"), "error": "", "undecided": [],
            "guest_values": {"name": "", "kind": "expert", "affiliation": "", "mode": "present"}}


@router.get("", response_class=HTMLResponse)
def meeting_page(request: Request, session_id: str, user: Coordinator, uow: Uow) -> Response:
    return render(request, "meeting/session.html.j2", _context(uow, user, session_id))


@router.get("/quorum", response_class=HTMLResponse)
def quorum_fragment(request: Request, session_id: str, user: Coordinator, uow: Uow) -> Response:
    return render(request, "meeting/_quorum.html.j2", _context(uow, user, session_id))


@router.post("/presence", response_class=HTMLResponse)
def member_presence(request: Request, session_id: str, user: Coordinator, uow: Uow, now: Now,
                    form: CsrfForm) -> Response:
    scope.session_for_coordinator(uow, user, session_id)
    professional_id = str(form.get("professional_id") or "")
    mode = str(form.get(f"presence-{professional_id}") or form.get("mode") or "")
    htmx = request.headers.get("hx-request") == "true"
    try:
        status = meeting_services.set_member_presence(uow, session_id=session_id, professional_id=professional_id,
                                                      mode=mode, actor=user.login, now=now)
    except DccError as exc:
        if htmx:
            ctx = _context(uow, user, session_id) | {"error": exc.message}
            return render(request, "meeting/_quorum.html.j2", ctx, status_code=exc.status_code)
        return redirect(f"/coordination/seances/{session_id}/reunion", f"Présence refusée : {exc.message}")
    if htmx:
        return render(request, "meeting/_quorum.html.j2", _context(uow, user, session_id))
    label = "atteint" if status == "met" else "non atteint"
    return redirect(f"/coordination/seances/{session_id}/reunion", f"Présence enregistrée : quorum {label}.")


@router.post("/invites", response_class=HTMLResponse)
def add_guest(request: Request, session_id: str, user: Coordinator, uow: Uow, now: Now, form: CsrfForm) -> Response:
    scope.session_for_coordinator(uow, user, session_id)
    values = {k: str(form.get(k) or "").strip() for k in ("name", "kind", "affiliation", "mode")}
    values["mode"] = values["mode"] or "present"
    try:
        data = meeting_services.GuestInput(**values)
        meeting_services.add_guest(uow, session_id=session_id, data=data, actor=user.login, now=now)
    except ValidationError as exc:
        message = _guest_error(exc)
        return render(request, "meeting/session.html.j2",
                      _context(uow, user, session_id) | {"error": message, "guest_values": values}, status_code=422)
    except DccError as exc:
        return render(request, "meeting/session.html.j2",
                      _context(uow, user, session_id) | {"error": exc.message, "guest_values": values},
                      status_code=exc.status_code)
    return redirect(f"/coordination/seances/{session_id}/reunion",
                    f"Invité inscrit : {data.name} (ne compte pas pour le quorum).")


def _guest_error(exc: ValidationError) -> str:
    fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
    if "name" in fields:
        return "Invité refusé : indiquez son nom (2 à 200 caractères, sans caractère de contrôle)."
    if "kind" in fields:
        return "Invité refusé : choisissez sa qualité (expert extérieur, interne, autre invité)."
    return "Invité refusé : vérifiez sa qualité, son rattachement (200 caractères au plus) et son mode de présence."


@router.post("/invites/{guest_id}/retirer", response_class=HTMLResponse)
def remove_guest(request: Request, session_id: str, guest_id: str, user: Coordinator, uow: Uow, now: Now,
                 form: CsrfForm) -> Response:
    scope.session_for_coordinator(uow, user, session_id)
    back = f"/coordination/seances/{session_id}/reunion"
    try:
        meeting_services.remove_guest(uow, session_id=session_id, guest_id=guest_id, actor=user.login, now=now)
    except DccError as exc:
        return redirect(back, exc.message)
    return redirect(back, "Invité retiré de la feuille de présence.")


# -------------------------------------------------------------------------------------- decision


def _case(uow: Any, user: PageUser, session_id: str, case_id: str) -> Any:
    scope.session_for_coordinator(uow, user, session_id)
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    if case.session_id != session_id:
        raise NotFound(f"Dossier « {case_id} » introuvable à cette séance.")
    return case


def _decision_context(uow: Any, user: PageUser, session_id: str, case_id: str,
                      values: dict[str, Any] | None = None, error: str = "",
                      edited: tuple[str, str, bool] | None = None) -> dict[str, Any]:
    case = _case(uow, user, session_id, case_id)
    return _decision.context(uow, case, values=values, error=error, edited=edited,
                             form_action=f"/coordination/seances/{session_id}/reunion/dossiers/{case_id}/decision",
                             back=f"/coordination/seances/{session_id}/reunion#dossier-{case_id}",
                             back_label="Retour à la réunion")


@router.get("/dossiers/{case_id}/decision", response_class=HTMLResponse)
def decision_form(request: Request, session_id: str, case_id: str, user: Coordinator, uow: Uow) -> Response:
    return render(request, "physician/decision.html.j2", _decision_context(uow, user, session_id, case_id))


@router.post("/dossiers/{case_id}/decision", response_class=HTMLResponse)
def record_decision(request: Request, session_id: str, case_id: str, user: Coordinator, uow: Uow, now: Now,
                    form: CsrfForm) -> Response:
    case = _case(uow, user, session_id, case_id)
    values = _decision.posted_values(form)
    edited = _decision.edit_entries(uow, values, form)  # « Ajouter » / « Retirer » a drug or act without htmx
    if edited:
        return render(request, "physician/decision.html.j2",
                      _decision_context(uow, user, session_id, case_id, values, edited=edited))
    error, status = _decision.record(uow, case, values, actor=user.login, now=now)
    if error:
        return render(request, "physician/decision.html.j2",
                      _decision_context(uow, user, session_id, case_id, values, error), status_code=status)
    return redirect(f"/coordination/seances/{session_id}/reunion", "Décision enregistrée.")


# ------------------------------------------------------------------------------------ validation


@router.post("/valider", response_class=HTMLResponse)
def validate(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today, now: Now,
             form: CsrfForm) -> Response:
    scope.session_for_coordinator(uow, user, session_id)
    if form.get("confirmation") != "oui":
        ctx = _context(uow, user, session_id) | {"confirming": True}
        return render(request, "meeting/confirm.html.j2", ctx)
    try:
        summary = board_services.validate_session(uow, session_id=session_id, today=today,
                                                  confirm=form.get("confirmer") == "oui", actor=user.login,
                                                  now=now)
    except DccError as exc:
        ctx = _context(uow, user, session_id) | {"error": exc.message, "confirming": True}
        if isinstance(exc, UndecidedCases):  # confirm again, knowing which cases go back to assignment
            ctx["undecided"] = [i for i in ctx["agenda"].items if i.case_id in exc.case_ids]
        return render(request, "meeting/confirm.html.j2", ctx, status_code=exc.status_code)
    return redirect(f"/coordination/seances/{session_id}/reunion", after_validation(session_id, summary))
