"""Monitor and admin pages: the audit trail (filters, break-the-glass highlighted, FHIR AuditEvent export),
the alerts to review (break-the-glass, dead letters, refused accesses) and the recent flow runs."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dcc.adapters import prefect_runs
from dcc.errors import ValidationFailed
from dcc.services import audit_trail, flow_runs
from dcc.web.deps import Uow
from dcc.web.pages._common import PageRoute, PageUser, render, require_role

router = APIRouter(prefix="/suivi", route_class=PageRoute, include_in_schema=False)
Auditor = Annotated[PageUser, Depends(require_role("monitor", "admin"))]


def _query(utilisateur: Annotated[str, Query(max_length=100)] = "",
           patient: Annotated[str, Query(max_length=100)] = "",
           action: Annotated[str, Query(max_length=100)] = "",
           du: Annotated[str, Query(max_length=10)] = "", au: Annotated[str, Query(max_length=10)] = "",
           ) -> audit_trail.AuditQuery:
    try:
        start = date.fromisoformat(du) if du else None
        end = date.fromisoformat(au) if au else None
    except ValueError as exc:
        raise ValidationFailed("Date invalide : utilisez le format JJ/MM/AAAA.", field="du") from exc
    return audit_trail.AuditQuery(actor=utilisateur.strip(), patient_id=patient.strip(), action=action.strip(),
                                  start=start, end=end)


AuditFilters = Annotated[audit_trail.AuditQuery, Depends(_query)]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Auditor, uow: Uow, query: AuditFilters) -> Response:
    rows = audit_trail.search(uow, user, query)
    return render(request, "monitor/audit.html.j2", {
        "rows": rows, "query": query, "labels": audit_trail.ACTION_LABELS, "highlighted": audit_trail.HIGHLIGHTED,
        "export_query": request.url.query})


@router.get("/audit/export.fhir.json")
def audit_export(user: Auditor, uow: Uow, query: AuditFilters) -> Response:
    bundle = audit_trail.fhir_bundle(audit_trail.search(uow, user, query, limit=audit_trail.MAX_ROWS))
    return Response(json.dumps(bundle, ensure_ascii=False, indent=1), media_type="application/fhir+json",
                    headers={"Content-Disposition": 'attachment; filename="journal-audit-fhir.json"',
                             "Cache-Control": "no-store"})


@router.get("/alertes", response_class=HTMLResponse)
def alerts_page(request: Request, user: Auditor, uow: Uow) -> Response:
    return render(request, "monitor/alerts.html.j2", {"alerts": audit_trail.alerts(uow, user),
                                                      "KINDS": audit_trail.ALERT_KINDS})


@router.get("/flux", response_class=HTMLResponse)
def flow_runs_page(request: Request, user: Auditor, uow: Uow) -> Response:
    api_url = prefect_runs.configured_api_url()
    if api_url:
        result = flow_runs.recent_runs(uow, user, prefect_reader=prefect_runs.read_recent_runs,
                                       prefect_ui=prefect_runs.ui_url(api_url))
    else:
        result = flow_runs.recent_runs(uow, user)
    return render(request, "monitor/flow_runs.html.j2", {"result": result, "duration": flow_runs.fr_duration,
                                                         "count_label": flow_runs.count_label})
