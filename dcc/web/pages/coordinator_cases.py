"""Coordinator pages of the cases: the case list with its search and filters (each row opens the case page),
editing a case before its session, withdrawing it with a reason."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from dcc.errors import DccError
from dcc.services import coordination
from dcc.web.deps import Now, Today, Uow
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, redirect, render, require_role

router = APIRouter(prefix="/coordination/dossiers", route_class=PageRoute, include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("", response_class=HTMLResponse)
def case_list(request: Request, user: Coordinator, uow: Uow,
              q: Annotated[str, Query(max_length=100)] = "", rcp: Annotated[str, Query(max_length=40)] = "",
              statut: Annotated[str, Query(max_length=20)] = "", seance: Annotated[str, Query(max_length=40)] = "",
              du: Annotated[str, Query(max_length=10)] = "", au: Annotated[str, Query(max_length=10)] = "",
              page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    boards = scope.coordinator_board_refs(uow, user)
    board_ids = {b.id for b in boards}
    filters = {"q": q, "rcp": rcp if rcp in board_ids else "", "statut": statut, "seance": seance, "du": du,
               "au": au}
    error = ""
    try:
        result = coordination.search_cases(uow, board_ids=board_ids, q=q, board_id=filters["rcp"], status=statut,
                                           session_id=seance, date_from=_day(du), date_to=_day(au), page=page)
    except DccError as exc:
        error = exc.message
        result = coordination.CasePage(rows=[], total=0, page=1, pages=1)
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "coordinator/cases.html.j2", {"result": result, "boards": boards, "filters": filters,
                                                         "error": error, "query": query},
                  status_code=422 if error else 200)


def _edit_values(case: Any) -> dict[str, Any]:
    return {"question": case.question, "motive": case.motive, "summary": case.summary,
            "urgent": "oui" if case.urgent else "", "earliest_date": case.earliest_date.isoformat()}


@router.get("/{case_id}/modifier", response_class=HTMLResponse)
def edit_form(request: Request, case_id: str, user: Coordinator, uow: Uow) -> Response:
    case, board = scope.case_for_coordinator(uow, user, case_id)
    return render(request, "coordinator/case_edit.html.j2", {"case": case, "board": board,
                                                             "values": _edit_values(case), "errors": {}})


@router.post("/{case_id}/modifier", response_class=HTMLResponse)
def edit(request: Request, case_id: str, user: Coordinator, uow: Uow, today: Today, now: Now,
         form: CsrfForm) -> Response:
    case, board = scope.case_for_coordinator(uow, user, case_id)
    values = {k: str(form.get(k) or "").strip() for k in ("question", "motive", "summary", "earliest_date")}
    values["urgent"] = "oui" if form.get("urgent") == "oui" else ""
    try:
        data = coordination.CaseEdit.model_validate({**values, "urgent": values["urgent"] == "oui"})
        changed = coordination.edit_case(uow, case_id=case.id, data=data, today=today, actor=user.login,
                                         now=now)
    except (ValidationError, DccError) as exc:
        uow.rollback()
        if isinstance(exc, ValidationError):
            from dcc.web.pages.coordinator import _error_map

            errors, status = _error_map(exc), 422
        else:
            errors, status = {exc.field or "formulaire": exc.message}, exc.status_code
        case, board = scope.case_for_coordinator(uow, user, case_id)
        return render(request, "coordinator/case_edit.html.j2", {"case": case, "board": board, "values": values,
                                                                 "errors": errors}, status_code=status)
    return redirect(f"/coordination/dossiers/{case_id}",
                    "Dossier modifié." if changed else "Aucune modification.")


@router.post("/{case_id}/retirer", response_class=HTMLResponse)
def withdraw(request: Request, case_id: str, user: Coordinator, uow: Uow, now: Now, form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    back = f"/coordination/dossiers/{case_id}"
    try:
        coordination.withdraw_case(uow, case_id=case.id, reason=str(form.get("motif") or ""), actor=user.login,
                                   now=now)
    except DccError as exc:
        return redirect(back, f"Retrait refusé : {exc.message}")
    return redirect(back, "Dossier retiré de la RCP ; il quitte l'ordre du jour de sa séance.")
