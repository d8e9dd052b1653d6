"""Coordinator pages of the board directory: list the boards in scope, create and edit a board (its rule,
place, capacity, deadline, members and their roles, required specialties), deactivate it. Actions call the
use cases of dcc.services.directory (the JSON API's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from dcc import valuesets
from dcc.domain.quorum import GROUP_LABELS, SPECIALTY_LABELS
from dcc.errors import DccError, NotFound
from dcc.services import directory, queries
from dcc.services.directory import BoardCreation
from dcc.web.deps import Today, Uow
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, form_list, redirect, render, require_role

router = APIRouter(prefix="/coordination/rcp", route_class=PageRoute, include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]

SPECIALTY_CHOICES = [(k, f"{v} (toute spécialité chirurgicale)" if k == "chirurgien" else v)
                     for k, v in GROUP_LABELS.items()] + sorted(
    ((k, v) for k, v in SPECIALTY_LABELS.items()), key=lambda kv: kv[1])


def board_in_scope(uow: Any, user: PageUser, board_id: str) -> Any:
    """A board the coordinator runs (404 otherwise, never 403)."""
    for board in scope.coordinator_boards(uow, user):
        if board.id == board_id:
            return board
    raise NotFound(f"RCP « {board_id} » introuvable.")


def _establishments(uow: Any, user: PageUser) -> list[Any]:
    return directory.establishments_in_scope(uow, establishment_id=user.establishment_id,
                                             region_code=user.region_code)


def _form_context(uow: Any, user: PageUser, values: dict[str, Any], errors: dict[str, str] | None = None,
                  board: Any = None) -> dict[str, Any]:
    ests = _establishments(uow, user)
    people = directory.professionals_of_establishments(uow, [e.id for e in ests])
    return {"values": values, "errors": errors or {}, "board": board, "establishments": ests,
            "people": people, "physicians": [p for p in people if p.is_physician],
            "appareils": valuesets.concepts(directory.APPAREIL_VS),
            "organes": valuesets.concepts(directory.ORGANE_VS),
            "transversals": valuesets.concepts(directory.TRANSVERSAL_VS),
            "specialty_choices": SPECIALTY_CHOICES, "weekdays": directory.WEEKDAYS,
            "frequencies": directory.FREQUENCIES, "ranks": directory.RANKS}


def _values_of(board: Any, uow: Any) -> dict[str, Any]:
    frequency, weekday, rank = directory.recurrence_parts(board.recurrence)
    est = directory.establishment(uow, board.establishment_id)
    members = [mb.professional.id for mb in directory.board_members(uow, board)]
    return {"name": board.name, "rcp_id": board.rcp_id, "kind": board.kind,
            "appareil_code": board.appareil_code or "", "organe_code": board.organe_code or "",
            "transversal_code": board.transversal_code or "", "establishment_finess": est.finess,
            "frequency": frequency, "weekday": weekday, "rank": rank, "start_time": board.start_time,
            "duration_min": str(board.duration_min), "capacity": str(board.capacity),
            "deadline_working_days": str(board.deadline_working_days), "place": board.place,
            "video_link": board.video_link, "recours": "oui" if board.recours else "",
            "pediatric": "oui" if board.pediatric else "", "responsible_id": board.responsible_id,
            "coordinator_id": board.coordinator_id, "member_ids": members,
            "required_specialties": list(board.required_specialties)}


def _values_of_form(form: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(v).strip() for k, v in form.items()
                              if k != "csrf_token" and not isinstance(v, list)}
    values["member_ids"] = form_list(form, "member_ids")
    values["required_specialties"] = form_list(form, "required_specialties")
    return values


def _creation(uow: Any, user: PageUser, values: dict[str, Any]) -> BoardCreation:
    """The use case's input from the form (ValidationError / DccError with a field on bad input)."""
    allowed = {e.id for e in _establishments(uow, user)}
    est = directory.establishment_by_finess(uow, values.get("establishment_finess", ""), allowed_ids=allowed)
    rule = directory.recurrence_rule(values.get("frequency", ""), values.get("weekday", ""),
                                     values.get("rank", "1") or "1")
    kind = values.get("kind", "")
    payload: dict[str, Any] = {
        "establishment_id": est.id, "rcp_id": values.get("rcp_id", ""), "name": values.get("name", ""),
        "kind": kind, "recurrence": rule, "start_time": values.get("start_time", ""),
        "place": values.get("place", ""), "video_link": values.get("video_link", ""),
        "recours": values.get("recours") == "oui", "pediatric": values.get("pediatric") == "oui",
        "required_specialties": values["required_specialties"],
        "responsible_id": values.get("responsible_id", ""), "coordinator_id": values.get("coordinator_id", ""),
        "member_ids": values["member_ids"],
    }
    for key in ("duration_min", "capacity", "deadline_working_days"):
        if values.get(key):
            payload[key] = values[key]
    if kind == "organ":
        payload["appareil_code"] = values.get("appareil_code") or None
        payload["organe_code"] = values.get("organe_code") or None
    elif kind == "transversal":
        payload["transversal_code"] = values.get("transversal_code") or None
    return BoardCreation.model_validate(payload)


FIELD_LABELS = {"name": "Nom", "rcp_id": "Identifiant national", "start_time": "Heure de début",
                "duration_min": "Durée", "capacity": "Capacité", "deadline_working_days": "Délai d'inscription",
                "place": "Lieu", "video_link": "Lien de visioconférence", "kind": "Type de RCP",
                "responsible_id": "Médecin responsable", "coordinator_id": "Coordonnateur"}


def _errors(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        from dcc.web.pages.coordinator import _error_map

        return {name: f"{FIELD_LABELS[name]} : {message[:1].lower()}{message[1:]}" if name in FIELD_LABELS
                else message for name, message in _error_map(exc).items()}
    assert isinstance(exc, DccError)
    name = (exc.field or "formulaire").split("[", 1)[0]
    return {name: exc.message}


@router.get("", response_class=HTMLResponse)
def board_list(request: Request, user: Coordinator, uow: Uow) -> Response:
    rows = directory.board_directory(uow, scope.coordinator_boards(uow, user))
    return render(request, "coordinator/boards.html.j2", {"rows": rows, "describe": directory.describe_recurrence})


@router.get("/nouvelle", response_class=HTMLResponse)
def new_board_form(request: Request, user: Coordinator, uow: Uow) -> Response:
    ests = _establishments(uow, user)
    me = user.professional_id or ""
    values = {"kind": "organ", "frequency": "hebdomadaire", "weekday": "TU", "rank": "1", "start_time": "17:00",
              "duration_min": "90", "capacity": "20", "deadline_working_days": "2",
              "establishment_finess": ests[0].finess if len(ests) == 1 else "", "coordinator_id": me,
              "member_ids": [], "required_specialties": ["chirurgien", "oncologue_medical", "radiotherapeute"]}
    return render(request, "coordinator/board_form.html.j2", _form_context(uow, user, values))


@router.post("/nouvelle", response_class=HTMLResponse)
def create_board(request: Request, user: Coordinator, uow: Uow, form: CsrfForm) -> Response:
    values = _values_of_form(form)
    try:
        board_id = directory.create_board(uow, data=_creation(uow, user, values), actor=user.login)
    except (ValidationError, DccError) as exc:
        status = exc.status_code if isinstance(exc, DccError) else 422
        return render(request, "coordinator/board_form.html.j2",
                      _form_context(uow, user, values, _errors(exc)), status_code=status)
    return redirect(f"/coordination/rcp/{board_id}", "RCP créée. Planifiez ses séances.")


@router.get("/{board_id}", response_class=HTMLResponse)
def board_page(request: Request, board_id: str, user: Coordinator, uow: Uow, today: Today) -> Response:
    board = board_in_scope(uow, user, board_id)
    sessions = queries.list_sessions(uow, board_id=board.id, start=today, end=None)
    return render(request, "coordinator/board.html.j2", {
        "board": board, "establishment": directory.establishment(uow, board.establishment_id),
        "members": directory.board_members(uow, board), "sessions": sessions,
        "recurrence": directory.describe_recurrence(board.recurrence), "today": today})


@router.get("/{board_id}/modifier", response_class=HTMLResponse)
def edit_board_form(request: Request, board_id: str, user: Coordinator, uow: Uow) -> Response:
    board = board_in_scope(uow, user, board_id)
    return render(request, "coordinator/board_form.html.j2",
                  _form_context(uow, user, _values_of(board, uow), board=board))


@router.post("/{board_id}/modifier", response_class=HTMLResponse)
def edit_board(request: Request, board_id: str, user: Coordinator, uow: Uow, form: CsrfForm) -> Response:
    board = board_in_scope(uow, user, board_id)
    values = _values_of_form(form)
    try:
        changed = directory.update_board(uow, board_id=board.id, data=_creation(uow, user, values),
                                         actor=user.login)
    except (ValidationError, DccError) as exc:
        uow.rollback()
        status = exc.status_code if isinstance(exc, DccError) else 422
        return render(request, "coordinator/board_form.html.j2",
                      _form_context(uow, user, values, _errors(exc), board=board), status_code=status)
    message = "RCP modifiée." if changed else "Aucune modification."
    return redirect(f"/coordination/rcp/{board_id}", message)


@router.post("/{board_id}/desactiver", response_class=HTMLResponse)
def deactivate_board(request: Request, board_id: str, user: Coordinator, uow: Uow, today: Today,
                     form: CsrfForm) -> Response:
    board = board_in_scope(uow, user, board_id)
    back = f"/coordination/rcp/{board_id}"
    if form.get("confirmer") != "oui":
        return redirect(back, "Cochez la confirmation pour désactiver la RCP.")
    try:
        done = directory.deactivate_board(uow, board_id=board.id, today=today, actor=user.login)
    except DccError as exc:
        return redirect(back, f"Désactivation refusée : {exc.message}")
    return redirect(back, f"RCP désactivée : {done.cancelled_sessions} séance(s) à venir annulée(s).")


@router.get("/{board_id}/calendrier.ics")
def board_ics(request: Request, board_id: str, user: Coordinator, uow: Uow) -> Response:
    """The board's sessions as an iCalendar file (for a one-off import; /agenda gives a subscription)."""
    board = board_in_scope(uow, user, board_id)
    _, ics = queries.board_calendar(uow, board.id)
    return Response(ics, media_type="text/calendar; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="rcp-{board.rcp_id}.ics"'})
