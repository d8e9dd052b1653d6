"""The audit trail of a patient (admin, or the patient's care team), as JSON and as FHIR R4 AuditEvent.

Reading the trail is itself audited (DICOM 110101 Audit Log Used). Regional monitors read the break-the-glass
alerts of their region.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.services import access
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Uow
from dcc.web.schemas import error_responses

router = APIRouter(prefix="/api/v1/audit", tags=["Audit"])

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACTION_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
LOCAL = "urn:dcc:audit-action"


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


def _trail(uow: UnitOfWork, user: User, patient: str) -> list[m.AuditEvent]:
    access.require(uow, user, "patient", patient, access.audit_trail_filter(user), action="audit_read")
    rows = list(uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.patient_id == patient)
                                    .order_by(m.AuditEvent.id)).all())
    access.record_read(uow, user, action="audit.read", entity="patient", entity_id=patient, patient_ids=[patient],
                       detail={"entries": len(rows)})
    return rows


PatientQuery = Annotated[str, Query(description="Identifiant du patient", min_length=1, max_length=64)]


@router.get("", response_model=list[AuditEntryOut], summary="Journal d'audit d'un patient",
            description="Toutes les traces concernant le patient (administrateur ou équipe de soins).",
            responses=error_responses(404, 422))
def patient_trail(patient: PatientQuery, uow: Uow, user: CurrentUser) -> list[AuditEntryOut]:
    return [AuditEntryOut.model_validate(e, from_attributes=True) for e in _trail(uow, user, patient)]


def _event_type(action: str) -> tuple[dict[str, str], list[dict[str, str]], str, str]:
    """(type, subtypes, FHIR action C/R/U/D/E, outcome) of one of our actions."""
    local = [{"system": LOCAL, "code": action}]
    if action == "access.refused" or action == "auth.login_refused":
        kind = ("110113", "Security Alert") if action == "access.refused" else ("110114", "User Authentication")
        return {"system": DCM, "code": kind[0], "display": kind[1]}, local, "E", "4"
    if action.startswith("auth."):
        return {"system": DCM, "code": "110114", "display": "User Authentication"}, local, "E", "0"
    if action == "break_glass.start":
        return ({"system": DCM, "code": "110113", "display": "Security Alert"},
                [{"system": DCM, "code": "110127", "display": "Emergency Override Started"}, *local], "E", "0")
    if action == "audit.read":
        return {"system": DCM, "code": "110101", "display": "Audit Log Used"}, local, "R", "0"
    if action.endswith("read"):
        return ({"system": ACTION_TYPE, "code": "rest", "display": "RESTful Operation"},
                [{"system": RESTFUL, "code": "read", "display": "read"}, *local], "R", "0")
    if action in ("document.deliver", "delivery.requeue", "document.metadata_update"):
        return {"system": DCM, "code": "110106", "display": "Export"}, local, "E", "0"
    if action.endswith(("register", "create", "generate")):
        return {"system": DCM, "code": "110110", "display": "Patient Record"}, local, "C", "0"
    return {"system": DCM, "code": "110110", "display": "Patient Record"}, local, "U", "0"


def fhir_audit_event(ev: m.AuditEvent) -> dict[str, Any]:
    """One audit entry as an R4 AuditEvent (plain dict)."""
    type_, subtypes, action, outcome = _event_type(ev.action)
    detail = ev.detail or {}
    agent: dict[str, Any] = {"who": {"identifier": {"system": "urn:dcc:login", "value": ev.actor}},
                             "requestor": True}
    if detail.get("role"):
        agent["role"] = [{"text": str(detail["role"])}]
    if ev.action == "break_glass.start" and detail.get("reason_code"):
        agent["purposeOfUse"] = [{"coding": [{"system": PURPOSE, "code": str(detail["reason_code"]),
                                              "display": str(detail.get("reason", ""))}],
                                  "text": str(detail.get("text", ""))}]
    entities: list[dict[str, Any]] = []
    if ev.patient_id:
        entities.append({"what": {"reference": f"Patient/{ev.patient_id}"},
                         "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                         "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}})
    entities.append({"what": {"identifier": {"system": f"urn:dcc:{ev.entity}", "value": ev.entity_id}},
                     "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                     "name": ev.entity,
                     "detail": [{"type": "hash", "valueString": ev.hash},
                                {"type": "prev_hash", "valueString": ev.prev_hash}]})
    return {
        "resourceType": "AuditEvent",
        "id": str(ev.id),
        "type": type_,
        "subtype": subtypes,
        "action": action,
        "recorded": ev.at.isoformat(),
        "outcome": outcome,
        "agent": [agent],
        "source": {"site": "dcc", "observer": {"display": "dcc"},
                   "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}]},
        "entity": entities,
    }


@router.get("/fhir", summary="Journal d'audit d'un patient (FHIR AuditEvent)",
            description="Un Bundle FHIR R4 de ressources AuditEvent (même accès que le journal JSON).",
            responses={200: {"content": {"application/fhir+json": {}}}, **error_responses(404, 422)})
def patient_trail_fhir(patient: PatientQuery, uow: Uow, user: CurrentUser) -> dict[str, Any]:
    rows = _trail(uow, user, patient)
    return {"resourceType": "Bundle", "type": "collection", "total": len(rows),
            "entry": [{"fullUrl": f"urn:dcc:audit:{e.id}", "resource": fhir_audit_event(e)} for e in rows]}


@router.get("/alerts", response_model=list[AlertOut], summary="Alertes d'accès d'urgence",
            description="Les accès d'urgence (bris de glace) de la région de l'observateur, à revoir a posteriori.")
def alerts(uow: Uow, user: CurrentUser) -> list[AlertOut]:
    rows = access.monitor_alerts(uow, user)
    return [AlertOut(id=e.id, at=e.at, physician_login=e.actor, physician=str(e.detail.get("physician", "")),
                     region=e.detail.get("region"), reason_code=str(e.detail.get("reason_code", "")),
                     expires_at=str(e.detail.get("expires_at", "")), break_glass_id=e.entity_id) for e in rows]
