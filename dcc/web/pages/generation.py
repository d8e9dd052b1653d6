"""Monitor pages of the document generation queue: its dead letters in the user's scope (French reason, no
clinical field), requeued by the board's coordinator; a small insert for the indicators page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError
from dcc.services import generation
from dcc.web.deps import Uow
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, redirect, render, require_role

router = APIRouter(prefix="/suivi/generation", route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[PageUser, Depends(require_role("monitor", "coordinator", "admin"))]
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]


@router.get("", response_class=HTMLResponse)
def dead_letters(request: Request, user: Viewer, uow: Uow) -> Response:
    return render(request, "monitor/generation.html.j2", {
        "letters": generation.dead_letters(uow, user), "can_requeue": user.role == "coordinator"})


@router.get("/encart", response_class=HTMLResponse)
def insert(request: Request, user: Viewer, uow: Uow) -> Response:
    """The indicators page's section (loaded by htmx; without JavaScript, its link leads to the full page)."""
    return render(request, "monitor/generation.html.j2", {"letters": generation.dead_letters(uow, user)},
                  block_name="encart")


@router.post("/{task_id}/relancer", response_class=HTMLResponse)
def requeue(request: Request, task_id: str, user: Coordinator, uow: Uow,
            form: CsrfForm) -> Response:
    try:
        generation.requeue(uow, user, task_id=task_id)
    except DccError as exc:
        return redirect("/suivi/generation", f"Relance refusée : {exc.message}")
    return redirect("/suivi/generation", "Génération remise en file : les documents seront produits au prochain "
                    "passage de la génération.")
