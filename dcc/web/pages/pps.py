"""PPS pages (physician of the care team, coordinating nurse `ide`): the "PPS à compléter" list, and one
plan: open it from the decision, add and remove lines, set the contact, submit it for signature, record the
hand-over date (GEN-178). Actions call the services the JSON API calls."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError, ValidationFailed
from dcc.services import access, codes, treatment_start
from dcc.services import pps as pps_services
from dcc.web.deps import Today, Uow
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, redirect, render, require_role

router = APIRouter(prefix="/pps", route_class=PageRoute, include_in_schema=False)
Author = Annotated[PageUser, Depends(require_role("physician", "ide"))]
CATEGORY_TITLES = {"treatment": "Traitements programmés", "follow_up": "Suivi", "supportive": "Soins de support",
                   "social": "Accompagnement social et socioprofessionnel"}


def todo_rows(uow: Any, user: PageUser) -> list[dict[str, Any]]:
    """The cases whose PPS the user may author and that are not submitted yet."""
    rows = [(c, p) for c, p in pps_services.cases_awaiting_pps(uow) if access.can_author_pps(uow, user, c.id)]
    names = pps_services.patient_names(uow, [c.patient_id for c, _ in rows])
    return [{"case": c, "plan": p, "patient": names[c.patient_id]} for c, p in rows]


def _case(uow: Any, user: PageUser, case_id: str) -> None:
    access.require(uow, user, "case", case_id, access.case_filter(user))
    if not access.can_author_pps(uow, user, case_id):
        raise access.AccessDenied("Vous ne faites pas partie de l'équipe de soins de ce patient.")


def _date(form: dict[str, Any], key: str) -> date | None:
    raw = str(form.get(key) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"Date invalide : « {raw[:20]} » (attendu AAAA-MM-JJ).", field=key) from None


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Author, uow: Uow) -> Response:
    return render(request, "pps/todo.html.j2", {"rows": todo_rows(uow, user)})


def _context(uow: Any, user: PageUser, case_id: str, error: str = "") -> dict[str, Any]:
    _case(uow, user, case_id)
    plan = pps_services.plan_of_case(uow, case_id)
    view = pps_services.plan_view(uow, case_id) if plan else None
    page = pps_services.page_data(uow, case_id, view)
    case, members, people = page.case, page.members, page.people
    groups = {cat: [i for i in view.items if i.category == cat] for cat in CATEGORY_TITLES} if view else {}
    # the choices from the value-set versions in force in the database (an import changes them), and the
    # labels of the entered lines from the database too (a line whose code was retired since keeps its label)
    options = {cat: [c for c in codes.choices(uow, vs) if c.active] for cat, vs in pps_services.VALUE_SETS.items()}
    if view:
        options["treatment"] = [c for c in options["treatment"] if c.code in view.allowed_treatments]
    entered = {cat: codes.labels(uow, vs, [i.code for i in view.items if i.category == cat] if view else [])
               for cat, vs in pps_services.VALUE_SETS.items()}
    return {"case": case, "patient": page.patient, "view": view,
            "groups": groups, "titles": CATEGORY_TITLES, "options": options, "people": people,
            "members": members, "error": error, "labels": pps_services.STATUS_LABELS,
            "display": lambda cat, code: entered[cat].get(code, code)}


@router.get("/dossiers/{case_id}", response_class=HTMLResponse)
def plan_page(request: Request, case_id: str, user: Author, uow: Uow) -> Response:
    return render(request, "pps/plan.html.j2", _context(uow, user, case_id))


def _act(request: Request, case_id: str, uow: Any, user: PageUser, form: dict[str, Any], action: Any,
         done: str) -> Response:
    _case(uow, user, case_id)
    try:
        action(form)
    except DccError as exc:
        uow.rollback()
        return render(request, "pps/plan.html.j2", _context(uow, user, case_id, exc.message),
                      status_code=exc.status_code)
    return redirect(f"/pps/dossiers/{case_id}", done)


@router.post("/dossiers/{case_id}/ouvrir", response_class=HTMLResponse)
def open_plan(request: Request, case_id: str, user: Author, uow: Uow, form: CsrfForm) -> Response:
    return _act(request, case_id, uow, user, form,
                      lambda form: pps_services.open_plan(uow, case_id=case_id, actor=user.login), "PPS ouvert.")


@router.post("/dossiers/{case_id}/lignes", response_class=HTMLResponse)
def add_item(request: Request, case_id: str, user: Author, uow: Uow, form: CsrfForm) -> Response:
    def action(form: dict[str, Any]) -> None:
        item = pps_services.PpsItemInput(
            category=str(form.get("category") or ""), code=str(form.get("code") or ""),
            start=_date(form, "start"), end=_date(form, "end"), place=str(form.get("place") or "")[:500],
            responsible_id=str(form.get("responsible_id") or "") or None, text=str(form.get("text") or "")[:5000])
        pps_services.add_item(uow, case_id=case_id, item=item, actor=user.login)
    return _act(request, case_id, uow, user, form, action, "Ligne ajoutée.")


@router.post("/dossiers/{case_id}/lignes/{item_id}/retirer", response_class=HTMLResponse)
def remove_item(request: Request, case_id: str, item_id: str, user: Author, uow: Uow, form: CsrfForm) -> Response:
    return _act(request, case_id, uow, user, form, lambda form: pps_services.remove_item(
        uow, case_id=case_id, item_id=item_id, actor=user.login), "Ligne retirée.")


@router.post("/dossiers/{case_id}/contact", response_class=HTMLResponse)
def contact(request: Request, case_id: str, user: Author, uow: Uow, form: CsrfForm) -> Response:
    def action(form: dict[str, Any]) -> None:
        plan = pps_services.plan_of_case(uow, case_id)
        if plan is None:
            raise ValidationFailed("Ouvrez d'abord le PPS.")
        current = pps_services.current_input(uow, plan)
        pps_services.update_plan(uow, case_id=case_id, actor=user.login, data=pps_services.PlanInput(
            items=current.items, contact_name=str(form.get("contact_name") or "")[:500],
            contact_phone=str(form.get("contact_phone") or "")[:100]))
    return _act(request, case_id, uow, user, form, action, "Contact enregistré.")


@router.post("/dossiers/{case_id}/soumettre", response_class=HTMLResponse)
def submit(request: Request, case_id: str, user: Author, uow: Uow, form: CsrfForm) -> Response:
    from dcc import bootstrap

    return _act(request, case_id, uow, user, form, lambda form: pps_services.submit_plan(
        uow, case_id=case_id, actor=user.login, cda=bootstrap.cda_builder(), pdf=bootstrap.pdf_renderer()),
        "PPS soumis à la signature du médecin responsable.")


@router.post("/dossiers/{case_id}/remise", response_class=HTMLResponse)
def handover(request: Request, case_id: str, user: Author, uow: Uow, today: Today, form: CsrfForm) -> Response:
    def action(form: dict[str, Any]) -> None:
        when = _date(form, "handed_at")
        if when is None:
            raise ValidationFailed("Indiquez la date de remise du PPS au patient.", field="handed_at")
        pps_services.record_handover(uow, case_id=case_id, handed_at=when, actor=user.login, today=today)
    return _act(request, case_id, uow, user, form, action, "Date de remise au patient enregistrée.")


@router.post("/dossiers/{case_id}/premier-traitement", response_class=HTMLResponse)
def first_treatment(request: Request, case_id: str, user: Author, uow: Uow, today: Today,
                    form: CsrfForm) -> Response:
    """The day the first treatment started (empty: clear it, « non renseignée »), for the network's indicators."""
    def action(form: dict[str, Any]) -> None:
        treatment_start.record_first_treatment(uow, user, case_id=case_id, when=_date(form, "first_treatment_date"),
                                               today=today)
    return _act(request, case_id, uow, user, form, action, "Date du premier traitement enregistrée.")
