"""Reading the audit trail: a patient's trail (admin or care team), the search screen of monitors and admins,
the monitors' alerts, and the export as FHIR R4 AuditEvent resources (validated with fhir.resources R4B,
which serialises AuditEvent as R4 does).

Scope of the search: an admin reads every entry; a regional monitor the entries about a patient with a case
on a board of their region, and those written by the users of their region. Reading is itself audited
(`audit.read`, DICOM 110101 Audit Log Used) before the entries are returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true

from dcc.adapters.db import models as m
from dcc.domain.calendar import PARIS
from dcc.errors import ValidationFailed
from dcc.services import access
from dcc.services.uow import UnitOfWork

AuditEntry = m.AuditEvent  # the entries handed to callers (read-only)

# Actions a person filters on, with their French label (others are shown by their code).
ACTION_LABELS = {
    "break_glass.start": "Accès d'urgence (bris de glace)",
    "alert.monitor": "Alerte à l'observateur régional",
    "notice.patient": "Information du patient",
    "access.refused": "Accès refusé",
    "audit.read": "Lecture du journal d'audit",
    "auth.login": "Connexion",
    "auth.login_refused": "Connexion refusée",
    "delivery.requeue": "Relance d'un envoi",
    "delivery.dead": "Envoi en échec définitif",
    "document.deliver": "Document délivré",
    "document.sign": "Signature de documents",
    "case.register": "Inscription d'un dossier",
    "flow.run": "Exécution d'un flux",
}
HIGHLIGHTED = ("break_glass.start", "alert.monitor")
MAX_ROWS = 500


def _region_users(user: access.User) -> Any:
    return select(m.AppUser.login).join(m.Region, m.Region.id == m.AppUser.region_id).where(
        m.Region.code == (user.region_code or ""))


def _region_patients(user: access.User) -> Any:
    boards = select(m.Board.id).where(access.board_filter(user))
    return select(m.Case.patient_id).where(m.Case.board_id.in_(boards))


def search_filter(user: access.User) -> ColumnElement[bool]:
    if user.role == "admin":
        return true()
    return or_(m.AuditEvent.patient_id.in_(_region_patients(user)), m.AuditEvent.actor.in_(_region_users(user)))


@dataclass(frozen=True)
class AuditQuery:
    actor: str = ""
    patient_id: str = ""
    action: str = ""
    start: date | None = None
    end: date | None = None

    def validate(self) -> None:
        for name, value in (("utilisateur", self.actor), ("patient", self.patient_id), ("action", self.action)):
            if len(value) > 100:
                raise ValidationFailed(f"Le filtre « {name} » est trop long (100 caractères au plus).", field=name)
        if self.start and self.end and self.end < self.start:
            raise ValidationFailed("La date de fin précède la date de début.", field="au")


def search(uow: UnitOfWork, user: access.User, query: AuditQuery, *, limit: int = 200) -> list[m.AuditEvent]:
    """Entries in the user's scope matching the filters, newest first (audited as `audit.read`)."""
    access.require_role(user, "monitor", "admin",
                        message="Le journal d'audit est réservé aux observateurs régionaux et aux administrateurs.")
    query.validate()
    q = select(m.AuditEvent).where(search_filter(user))
    if query.actor:
        q = q.where(m.AuditEvent.actor == query.actor.strip())
    if query.patient_id:
        q = q.where(m.AuditEvent.patient_id == query.patient_id.strip())
    if query.action:
        q = q.where(m.AuditEvent.action == query.action.strip())
    if query.start:
        q = q.where(m.AuditEvent.at >= datetime.combine(query.start, datetime.min.time(), tzinfo=PARIS))
    if query.end:
        q = q.where(m.AuditEvent.at < datetime.combine(query.end + timedelta(days=1), datetime.min.time(),
                                                       tzinfo=PARIS))
    rows = list(uow.session.scalars(q.order_by(m.AuditEvent.id.desc()).limit(min(limit, MAX_ROWS))).all())
    access.record_read(uow, user, action="audit.read", entity="audit", entity_id="recherche", patient_ids=[None],
                       detail={"filters": {"actor": query.actor, "patient": query.patient_id, "action": query.action,
                                           "start": query.start.isoformat() if query.start else "",
                                           "end": query.end.isoformat() if query.end else ""},
                               "entries": len(rows)})
    return rows


def patient_trail(uow: UnitOfWork, user: access.User, patient_id: str) -> list[m.AuditEvent]:
    """Every entry about one patient (admin, or the patient's care team), oldest first (audited)."""
    access.require(uow, user, "patient", patient_id, access.audit_trail_filter(user), action="audit_read")
    rows = list(uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.patient_id == patient_id)
                                    .order_by(m.AuditEvent.id)).all())
    access.record_read(uow, user, action="audit.read", entity="patient", entity_id=patient_id,
                       patient_ids=[patient_id], detail={"entries": len(rows)})
    return rows


# ------------------------------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class Alert:
    kind: str  # break_glass | dead_letter | refused
    at: datetime
    actor: str
    summary: str
    entity_id: str
    patient_id: str | None


ALERT_KINDS = {"break_glass": "Accès d'urgence", "dead_letter": "Lettre morte", "refused": "Accès refusé"}


def alerts(uow: UnitOfWork, user: access.User, *, limit: int = 100) -> list[Alert]:
    """What a monitor must review: break-the-glass accesses (by a physician of their region, or to a patient
    of their region), dead letters and refused accesses of their scope (an admin: everywhere), newest first."""
    access.require_role(user, "monitor", "admin", message="Les alertes sont réservées aux observateurs régionaux.")
    out: list[Alert] = []
    # break-the-glass: the physician's region (access.monitor_alerts) and the patient's region (search scope)
    grants = {ev.id: ev for ev in access.monitor_alerts(uow, user, limit=limit)}
    for ev in uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "alert.monitor",
                                                             search_filter(user))
                                  .order_by(m.AuditEvent.id.desc()).limit(limit)):
        grants.setdefault(ev.id, ev)
    for ev in grants.values():
        d = ev.detail or {}
        out.append(Alert("break_glass", ev.at, ev.actor,
                         f"{d.get('physician') or ev.actor} (région {d.get('region') or '?'}) — motif "
                         f"{d.get('reason_code', '')}, jusqu'au {_fr_iso(str(d.get('expires_at', '')))}",
                         ev.entity_id, ev.patient_id))
    q = (select(m.AuditEvent).where(m.AuditEvent.action.in_(["delivery.dead", "access.refused"]),
                                    search_filter(user)).order_by(m.AuditEvent.id.desc()).limit(limit))
    for ev in uow.session.scalars(q):
        d = ev.detail or {}
        if ev.action == "delivery.dead":
            out.append(Alert("dead_letter", ev.at, ev.actor,
                             f"Envoi vers {d.get('destination', '?')} en échec définitif après "
                             f"{d.get('attempts', '?')} tentative(s) : aucune nouvelle tentative n'est prévue.",
                             ev.entity_id, ev.patient_id))
        else:
            out.append(Alert("refused", ev.at, ev.actor,
                             f"{ev.actor} ({d.get('role', '?')}) : accès refusé à {ev.entity} "
                             f"({d.get('requested', 'lecture')})", ev.entity_id, ev.patient_id))
    out.sort(key=lambda a: a.at, reverse=True)
    return out[:limit]


def _fr_iso(value: str) -> str:
    from dcc.domain.clock import fr_datetime

    try:
        return fr_datetime(datetime.fromisoformat(value))
    except ValueError:
        return value or "?"


# -------------------------------------------------------------------------------------- FHIR AuditEvent

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACTION_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
# ANS TRE_R248_ModeAcces (OID 1.2.250.1.213.1.1.4.248): the access mode of a break-the-glass ("bris_de_glace")
MODE_ACCES = "urn:oid:1.2.250.1.213.1.1.4.248"
LOCAL = "urn:dcc:audit-action"


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
        coding = [{"system": PURPOSE, "code": str(detail["reason_code"]), "display": str(detail.get("reason", ""))},
                  # every break-the-glass grant is, in the national list's terms, mode "bris_de_glace"
                  {"system": MODE_ACCES, "code": "bris_de_glace", "display": "Accès en bris de glace"}]
        agent["purposeOfUse"] = [{"coding": coding, **({"text": str(detail["text"])} if detail.get("text")
                                                          else {})}]
    entities: list[dict[str, Any]] = []
    if ev.patient_id:
        entities.append({"what": {"reference": f"Patient/{ev.patient_id}"},
                         "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                         "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}})
    system_object: dict[str, Any] = {
        "what": {"identifier": {"system": f"urn:dcc:{ev.entity}", "value": ev.entity_id}},
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"}, "name": ev.entity}
    # (FHIR strings are never empty: a hash not computed yet is left out)
    chain = [{"type": k, "valueString": v} for k, v in (("hash", ev.hash), ("prev_hash", ev.prev_hash)) if v]
    if chain:
        system_object["detail"] = chain
    entities.append(system_object)
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


def _pruned(value: Any) -> Any:
    """Without empty strings, lists and objects (FHIR has no empty values): an entry with a blank detail
    still exports."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [v for v in (_pruned(x) for x in value) if v not in ("", [], {}, None)]
    return value


def fhir_bundle(rows: list[m.AuditEvent]) -> dict[str, Any]:
    """A `collection` Bundle of AuditEvent resources, checked against the FHIR models before it leaves."""
    from fhir.resources.R4B.bundle import Bundle

    bundle = {"resourceType": "Bundle", "type": "collection", "total": len(rows),
              "timestamp": datetime.now(PARIS).isoformat(),
              "entry": [{"fullUrl": f"urn:dcc:audit:{e.id}", "resource": _pruned(fhir_audit_event(e))}
                        for e in rows]}
    checked = Bundle.model_validate(bundle)
    out: dict[str, Any] = json.loads(checked.model_dump_json(exclude_none=True))
    return out
