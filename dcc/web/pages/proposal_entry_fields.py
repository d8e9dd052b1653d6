"""The decision form's drug and act fields (physician's page and the coordinator's meeting mode): suggestions
as you type from the referential search (dcc.services.referentials.search, the service behind
GET /api/v1/referentials/{system}/search; drugs: ATC then UCD, acts: CCAM) as an htmx fragment of <option>s
for the field's <datalist>, and the htmx « Ajouter » / « Retirer » that re-renders the field's block with the
code checked against the version in force (nothing is recorded until the decision is saved; without
JavaScript the same buttons submit the whole form, which does the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError, NotFound
from dcc.services import proposal_entries as pe
from dcc.services import referentials
from dcc.web.deps import Uow
from dcc.web.pages import _decision
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, render, require_role

router = APIRouter(prefix="/decision", route_class=PageRoute, include_in_schema=False)
Decider = Annotated[PageUser, Depends(require_role("physician", "coordinator"))]
SYSTEMS = {pe.DRUG: pe.DRUG_SYSTEMS, pe.ACT: pe.ACT_SYSTEMS}
LIMIT = 15


def _kind(slug: str) -> str:
    kind = _decision.KIND_OF_SLUG.get(slug)
    if kind is None:
        raise NotFound(f"Champ « {slug[:40]} » inconnu du formulaire de décision.")
    return kind


@router.get("/suggestions/{slug}", response_class=HTMLResponse)
def suggestions(request: Request, slug: str, user: Decider, uow: Uow) -> Response:
    kind = _kind(slug)
    q = str(request.query_params.get(_decision.ENTRY_BLOCKS[kind]["query"]) or request.query_params.get("q")
            or "")[:100]
    hits: list[tuple[str, referentials.SearchHit]] = []
    for system in SYSTEMS[kind]:
        try:
            found = referentials.search(uow, system, q, limit=LIMIT)
        except DccError:  # too short a query, or this referential not imported: no suggestion from it
            continue
        hits.extend((system, h) for h in found)
    return render(request, "physician/_entry_suggestions.html.j2", {"hits": hits[:LIMIT]})


@router.post("/entrees/{slug}", response_class=HTMLResponse)
def edit(request: Request, slug: str, user: Decider, uow: Uow, form: CsrfForm) -> Response:
    kind = _kind(slug)
    values = _decision.posted_values(form)
    edited = _decision.edit_entries(uow, values, form)
    message, error = (edited[1], edited[2]) if edited and edited[0] == kind else ("", False)
    block = _decision.entries_block(uow, kind, values, message, error)
    return render(request, "physician/_entries.html.j2", {"block": block})
