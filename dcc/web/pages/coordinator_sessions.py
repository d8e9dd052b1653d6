"""Coordinator pages managing a board's sessions: plan them (the flow's idempotent service), add an extra
session, cancel or move one — a preview first says which cases would be re-assigned and where (the same
use case, rolled back), then the confirmation applies it."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError, ValidationFailed
from dcc.services import boards as board_services
from dcc.services import session_changes
from dcc.web.deps import Today, Uow
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, fr_datetime, redirect, render, require_role
from dcc.web.pages.coordinator_boards import board_in_scope

router = APIRouter(prefix="/coordination", route_class=PageRoute, include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]


def _when(day: str, hour: str) -> datetime:
    """A local (Europe/Paris) date and time typed in the form (French errors)."""
    try:
        when_day = date.fromisoformat(day.strip())
    except ValueError:
        raise ValidationFailed("Date invalide (format attendu : AAAA-MM-JJ).", field="date") from None
    try:
        when_time = time.fromisoformat(hour.strip())
    except ValueError:
        raise ValidationFailed("Heure invalide (format attendu : HH:MM).", field="heure") from None
    return datetime.combine(when_day, when_time)


def _moved_message(summary_moves: dict[str, Any]) -> str:
    placed = sum(1 for mv in summary_moves.values() if mv.session_id is not None)
    back = len(summary_moves) - placed
    return f"{placed} dossier(s) réaffecté(s), {back} remis à l'affectation."


@router.post("/rcp/{board_id}/planifier", response_class=HTMLResponse)
def plan(request: Request, board_id: str, user: Coordinator, uow: Uow, today: Today, form: CsrfForm) -> Response:
    board = board_in_scope(uow, user, board_id)
    back = f"/coordination/rcp/{board_id}"
    try:
        weeks = int(str(form.get("semaines") or "8"))
        created = board_services.plan_sessions(uow, today=today, horizon_weeks=weeks, board_ids=[board.id])
    except ValueError:
        return redirect(back, "Horizon invalide : un nombre de semaines entre 1 et 104.")
    except DccError as exc:
        return redirect(back, exc.message)
    if created:
        return redirect(back, f"{created} séance(s) planifiée(s) sur {weeks} semaine(s).")
    return redirect(back, f"Aucune nouvelle séance : les {weeks} prochaines semaines sont déjà planifiées.")


@router.post("/rcp/{board_id}/seances", response_class=HTMLResponse)
def add_session(request: Request, board_id: str, user: Coordinator, uow: Uow, today: Today,
                form: CsrfForm) -> Response:
    board = board_in_scope(uow, user, board_id)
    back = f"/coordination/rcp/{board_id}"
    try:
        when = _when(str(form.get("date") or ""), str(form.get("heure") or board.start_time))
        session_id = session_changes.add_session(uow, board_id=board.id, starts_at=when, today=today,
                                                 actor=user.login)
    except DccError as exc:
        return redirect(back, f"Séance non ajoutée : {exc.message}")
    return redirect(f"/coordination/seances/{session_id}", "Séance supplémentaire ajoutée.")


@router.get("/seances/{session_id}/annuler", response_class=HTMLResponse)
def cancel_preview(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today) -> Response:
    session, board = scope.session_for_coordinator(uow, user, session_id)
    starts_at = session.starts_at
    try:
        preview = session_changes.preview_cancel(uow, session_id=session_id, today=today, actor=user.login)
    except DccError as exc:
        return redirect(f"/coordination/rcp/{board.id}", f"Annulation impossible : {exc.message}")
    return render(request, "coordinator/session_change.html.j2", {
        "action": "annuler", "board": board, "session_id": session_id, "starts_at": starts_at,
        "preview": preview, "new_day": "", "new_hour": ""})


@router.post("/seances/{session_id}/annuler", response_class=HTMLResponse)
def cancel(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today,
           form: CsrfForm) -> Response:
    session, board = scope.session_for_coordinator(uow, user, session_id)
    when = fr_datetime(session.starts_at)
    try:
        summary = board_services.cancel_session(uow, session_id=session_id, today=today, actor=user.login)
    except DccError as exc:
        return redirect(f"/coordination/rcp/{board.id}", f"Annulation refusée : {exc.message}")
    return redirect(f"/coordination/rcp/{board.id}", f"Séance du {when} annulée : {_moved_message(summary.moves)}")


@router.get("/seances/{session_id}/deplacer", response_class=HTMLResponse)
def move_preview(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today,
                 date_: Annotated[str, Query(alias="date", max_length=10)] = "",
                 heure: Annotated[str, Query(max_length=5)] = "") -> Response:
    session, board = scope.session_for_coordinator(uow, user, session_id)
    starts_at = session.starts_at
    ctx: dict[str, Any] = {"action": "deplacer", "board": board, "session_id": session_id, "starts_at": starts_at,
                           "preview": None, "new_day": date_, "new_hour": heure or board.start_time, "error": ""}
    if date_:
        try:
            ctx["new_start"] = _when(date_, heure or board.start_time)
            ctx["preview"] = session_changes.preview_move(uow, session_id=session_id, new_start=ctx["new_start"],
                                                          today=today, actor=user.login)
        except DccError as exc:
            ctx["error"] = exc.message
            return render(request, "coordinator/session_change.html.j2", ctx, status_code=exc.status_code)
    return render(request, "coordinator/session_change.html.j2", ctx)


@router.post("/seances/{session_id}/deplacer", response_class=HTMLResponse)
def move(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today,
         form: CsrfForm) -> Response:
    _, board = scope.session_for_coordinator(uow, user, session_id)
    try:
        when = _when(str(form.get("date") or ""), str(form.get("heure") or ""))
        summary = board_services.move_session(uow, session_id=session_id, new_start=when, today=today,
                                              actor=user.login)
    except DccError as exc:
        return redirect(f"/coordination/seances/{session_id}/deplacer", f"Déplacement refusé : {exc.message}")
    return redirect(f"/coordination/rcp/{board.id}",
                    f"Séance déplacée au {fr_datetime(summary.starts_at)} : {_moved_message(summary.moves)}")
