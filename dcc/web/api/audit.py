"""The audit trail of a patient (admin, or the patient's care team), as JSON and as FHIR R4 AuditEvent.

Reading the trail is itself audited (DICOM 110101 Audit Log Used). Regional monitors read the break-the-glass
alerts of their region.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dcc.services import access, audit_trail
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import error_responses

router = APIRouter(prefix="/api/v1/audit", tags=["Audit"], route_class=ApiRoute)


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    patient_id: str | None
    detail: dict[str, Any]
    hash: str


class AlertOut(BaseModel):
    id: int
    at: datetime
    physician_login: str
    physician: str
    region: str | None
    reason_code: str
    expires_at: str
    break_glass_id: str


def _trail(uow: UnitOfWork, user: User, patient: str) -> list[audit_trail.AuditEntry]:
    return audit_trail.patient_trail(uow, user, patient)


PatientQuery = Annotated[str, Query(description="Identifiant du patient", min_length=1, max_length=64)]


@router.get("", response_model=list[AuditEntryOut], summary="Journal d'audit d'un patient",
            description="Toutes les traces concernant le patient (administrateur ou équipe de soins).",
            responses=error_responses(404, 422))
def patient_trail(patient: PatientQuery, uow: Uow, user: CurrentUser) -> list[AuditEntryOut]:
    return [AuditEntryOut.model_validate(e, from_attributes=True) for e in _trail(uow, user, patient)]


fhir_audit_event = audit_trail.fhir_audit_event  # (kept: the export is built by the service)


@router.get("/fhir", summary="Journal d'audit d'un patient (FHIR AuditEvent)",
            description="Un Bundle FHIR R4 de ressources AuditEvent (même accès que le journal JSON).",
            responses={200: {"content": {"application/fhir+json": {}}}, **error_responses(404, 422)})
def patient_trail_fhir(patient: PatientQuery, uow: Uow, user: CurrentUser) -> dict[str, Any]:
    return audit_trail.fhir_bundle(_trail(uow, user, patient))


@router.get("/alerts", response_model=list[AlertOut], summary="Alertes d'accès d'urgence",
            description="Les accès d'urgence (bris de glace) de la région de l'observateur, à revoir a posteriori.")
def alerts(uow: Uow, user: CurrentUser) -> list[AlertOut]:
    rows = access.monitor_alerts(uow, user)
    return [AlertOut(id=e.id, at=e.at, physician_login=e.actor, physician=str(e.detail.get("physician", "")),
                     region=e.detail.get("region"), reason_code=str(e.detail.get("reason_code", "")),
                     expires_at=str(e.detail.get("expires_at", "")), break_glass_id=e.entity_id) for e in rows]
