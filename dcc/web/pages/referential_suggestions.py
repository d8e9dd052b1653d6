"""Suggestions of the registration form's coded fields (topography, morphology) from the referential search
(dcc.services.referentials.search): an htmx fragment of <option>s filling the field's <datalist>. The field
keeps its own live validation (/coordination/dossiers/verifier) and the registration's checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError, NotFound
from dcc.services import referentials
from dcc.web.deps import Uow
from dcc.web.pages._common import PageRoute, PageUser, render, require_role

router = APIRouter(prefix="/coordination/referentiels", route_class=PageRoute, include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]

FIELDS = {name: system for name, (system, _) in referentials.CHECKED_FIELDS.items()
          if name in ("topography_code", "morphology_code")}
LIMIT = 15


@router.get("/suggestions/{field}", response_class=HTMLResponse)
def suggestions(request: Request, field: str, user: Coordinator, uow: Uow) -> Response:
    system = FIELDS.get(field)
    if system is None:
        raise NotFound(f"Champ « {field} » sans suggestions.")
    q = str(request.query_params.get(field) or request.query_params.get("q") or "")[:100]
    try:
        hits = referentials.search(uow, system, q, limit=LIMIT)
    except DccError:  # too short a query, or the referential not imported yet: no suggestion
        hits = []
    return render(request, "coordinator/_suggestions.html.j2", {"hits": hits})
