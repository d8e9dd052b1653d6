"""Audit trail search (scope, filters), FHIR AuditEvent export, monitors' alerts, and break-the-glass from a
case (reason codes, configured duration, the case view's banner)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.errors import NotFound, ValidationFailed
from dcc.services import audit_trail, emergency
from dcc.services.access import AccessDenied, User
from dcc.services.audit import record_audit
from dcc.services.uow import Database
from tests.services.test_indicators import build

MONITOR_A = User(login="obs-a", role="monitor", region_code="RA", establishment_id=None, professional_id=None,
                 display_name="Observateur A")
MONITOR_B = User(login="obs-b", role="monitor", region_code="RB", establishment_id=None, professional_id=None,
                 display_name="Observateur B")
ADMIN = User(login="admin", role="admin", region_code=None, establishment_id=None, professional_id=None,
             display_name="Admin")


def world(db: Database) -> tuple[dict[str, str], User]:
    """The indicators' fixture plus a physician of region B (outside every care team of region A)."""
    ids = build(db)
    with db.uow() as uow:
        rb = uow.session.scalars(select(m.Region).where(m.Region.code == "RB")).one()
        est_b = uow.session.scalars(select(m.Establishment).where(m.Establishment.region_id == rb.id)).first()
        assert est_b is not None
        prof = m.Professional(rpps="10000000019", family="Bernard", given="Luc", specialty_code="SM54",
                              establishment_id=est_b.id)
        uow.session.add(prof)
        uow.session.flush()
        uow.session.add(m.AppUser(login="phys-b", role="physician", region_id=rb.id, professional_id=prof.id,
                                  display_name="Dr Luc Bernard"))
        case_a = uow.session.scalars(select(m.Case).where(m.Case.board_id == ids["B1"])).first()
        assert case_a is not None
        ids["case_a"], ids["patient_a"] = case_a.id, case_a.patient_id
        uow.commit()
    physician_b = User(login="phys-b", role="physician", region_code="RB", establishment_id=None,
                       professional_id=prof.id, display_name="Dr Luc Bernard")
    return ids, physician_b


def test_break_the_glass_from_a_case_then_the_case_view_shows_the_banner(database: Database) -> None:
    ids, phys_b = world(database)
    with database.uow() as uow:
        with pytest.raises(NotFound):  # outside the care team: as if missing
            emergency.case_view(uow, phys_b, ids["case_a"])
    with database.uow() as uow:
        with pytest.raises(ValidationFailed, match="inconnu"):  # a consent code is not a reason
            emergency.request_for_case(uow, phys_b, case_id=ids["case_a"], reason_code="OPPOSITION",
                                       text="Patient aux urgences, inconscient.", minutes=30)
        with pytest.raises(ValidationFailed, match="10 caractères"):
            emergency.request_for_case(uow, phys_b, case_id=ids["case_a"], reason_code="ETREAT", text="vite",
                                       minutes=30)
    before = datetime.now(UTC)
    with database.uow() as uow:
        grant = emergency.request_for_case(uow, phys_b, case_id=ids["case_a"], reason_code="ETREAT",
                                           text="Patient aux urgences, inconscient.", minutes=30)
    assert timedelta(minutes=29) < grant.expires_at - before <= timedelta(minutes=30, seconds=5)
    with database.uow() as uow:
        view = emergency.case_view(uow, phys_b, ids["case_a"])
    assert view.emergency is not None and view.emergency.reason == "Urgence thérapeutique"
    assert view.board_name == "RCP B1" and view.patient_name == "DUPONT Jean"
    with database.uow() as uow:
        actions = [(e.actor, e.action) for e in uow.session.scalars(select(m.AuditEvent))]
    assert ("phys-b", "break_glass.start") in actions and ("phys-b", "alert.monitor") in actions
    assert ("phys-b", "case.read") in actions


def test_monitor_sees_the_break_glass_of_another_regions_physician_in_audit_and_alerts(database: Database) -> None:
    ids, phys_b = world(database)
    with database.uow() as uow:
        emergency.request_for_case(uow, phys_b, case_id=ids["case_a"], reason_code="COC",
                                   text="Garde de nuit, dossier nécessaire.", minutes=60)
    with database.uow() as uow:
        rows = audit_trail.search(uow, MONITOR_A, audit_trail.AuditQuery(action="break_glass.start"))
    assert [(r.actor, r.patient_id) for r in rows] == [("phys-b", ids["patient_a"])]
    with database.uow() as uow:  # region B's monitor: a patient of region A, an actor of region B
        assert len(audit_trail.search(uow, MONITOR_B, audit_trail.AuditQuery(action="break_glass.start"))) == 1
        # the alert goes to the monitor of the physician's region (access.monitor_alerts)
        kinds_b = [a.kind for a in audit_trail.alerts(uow, MONITOR_B)]
        # and the monitor of the patient's region is alerted too (once)
        kinds_a = [a.kind for a in audit_trail.alerts(uow, MONITOR_A)]
    assert kinds_b.count("break_glass") == 1 and kinds_a.count("break_glass") == 1
    with database.uow() as uow:
        by_user = audit_trail.search(uow, MONITOR_A, audit_trail.AuditQuery(actor="phys-b"))
        by_patient = audit_trail.search(uow, MONITOR_A, audit_trail.AuditQuery(patient_id=ids["patient_a"]))
        future = audit_trail.search(uow, MONITOR_A, audit_trail.AuditQuery(start=date(2099, 1, 1)))
    assert {"break_glass.start", "alert.monitor"} <= {r.action for r in by_user}
    assert all(r.patient_id == ids["patient_a"] for r in by_patient) and by_patient
    assert future == []
    with database.uow() as uow:  # the searches were audited
        readers = {e.actor for e in uow.session.scalars(select(m.AuditEvent).where(
            m.AuditEvent.action == "audit.read"))}
    assert readers == {"obs-a", "obs-b"}


def test_monitor_scope_excludes_other_regions(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        case_b = uow.session.scalars(select(m.Case).where(m.Case.board_id == ids["B4"])).first()
        assert case_b is not None
        record_audit(uow, actor="someone", action="case.read", entity="case", entity_id=case_b.id,
                     patient_id=case_b.patient_id)
        uow.commit()
    # the fixture's single patient has cases in both regions: use a patient only in region B
    with database.uow() as uow:
        pat = m.Patient(birth_family="MARTIN", birth_given_first="Paul", birth_given_all="Paul",
                        birth_date=date(1960, 2, 2), sex="M", birthplace_insee="67482")
        uow.session.add(pat)
        uow.session.flush()
        doc = uow.session.scalars(select(m.Professional)).first()
        assert doc is not None
        uow.session.add(m.Case(patient_id=pat.id, board_id=ids["B4"], requester_id=doc.id, presenter_id=doc.id,
                               topography_code="C18.0", earliest_date=date(2026, 1, 1)))
        record_audit(uow, actor="someone", action="patient.read", entity="patient", entity_id=pat.id,
                     patient_id=pat.id)
        uow.commit()
        pat_id = pat.id
    with database.uow() as uow:
        assert audit_trail.search(uow, MONITOR_A, audit_trail.AuditQuery(patient_id=pat_id)) == []
        assert len(audit_trail.search(uow, MONITOR_B, audit_trail.AuditQuery(patient_id=pat_id))) == 1
        assert len(audit_trail.search(uow, ADMIN, audit_trail.AuditQuery(patient_id=pat_id))) == 1
        physician = User(login="p", role="physician", region_code="RA", establishment_id=None,
                         professional_id=None, display_name="P")
        with pytest.raises(AccessDenied):
            audit_trail.search(uow, physician, audit_trail.AuditQuery())
        with pytest.raises(ValidationFailed):
            audit_trail.search(uow, ADMIN, audit_trail.AuditQuery(start=date(2026, 2, 1), end=date(2026, 1, 1)))


def test_fhir_export_is_a_valid_bundle_with_the_national_access_mode(database: Database) -> None:
    from fhir.resources.R4B.bundle import Bundle

    ids, phys_b = world(database)
    with database.uow() as uow:
        emergency.request_for_case(uow, phys_b, case_id=ids["case_a"], reason_code="ETREAT",
                                   text="Patient aux urgences, inconscient.", minutes=30)
    with database.uow() as uow:
        rows = audit_trail.search(uow, ADMIN, audit_trail.AuditQuery(action="break_glass.start"))
        bundle = audit_trail.fhir_bundle(rows)
    Bundle.model_validate(bundle)  # raises on an invalid resource
    assert bundle["type"] == "collection" and len(bundle["entry"]) == 1
    event = bundle["entry"][0]["resource"]
    assert event["resourceType"] == "AuditEvent"
    assert {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110127",
            "display": "Emergency Override Started"} in event["subtype"]
    codings = event["agent"][0]["purposeOfUse"][0]["coding"]
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT",
            "display": "Urgence thérapeutique"} in codings
    assert {"system": "urn:oid:1.2.250.1.213.1.1.4.248", "code": "bris_de_glace",
            "display": "Accès en bris de glace"} in codings
    assert event["entity"][0]["what"]["reference"] == f"Patient/{ids['patient_a']}"


def test_alerts_list_dead_letters_and_refused_accesses(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        case = uow.session.scalars(select(m.Case).where(m.Case.board_id == ids["B1"])).first()
        assert case is not None
        record_audit(uow, actor="dispatcher", action="delivery.dead", entity="outbox_message", entity_id="msg-1",
                     patient_id=case.patient_id, detail={"destination": "dmp:RA", "attempts": 8})
        record_audit(uow, actor="intrus", action="access.refused", entity="case", entity_id=case.id,
                     patient_id=case.patient_id, detail={"role": "physician", "requested": "read"})
        uow.commit()
    with database.uow() as uow:
        found = audit_trail.alerts(uow, MONITOR_A)
    assert sorted(a.kind for a in found) == ["dead_letter", "refused"]
    dead = next(a for a in found if a.kind == "dead_letter")
    assert "aucune nouvelle tentative n'est prévue" in dead.summary and "8 tentative" in dead.summary


def test_fhir_export_of_entries_with_blank_details(database: Database) -> None:
    from fhir.resources.R4B.bundle import Bundle

    with database.uow() as uow:
        record_audit(uow, actor="phys-x", action="break_glass.start", entity="patient", entity_id="p-1",
                     patient_id=None, detail={"reason_code": "ETREAT", "reason": "", "text": "", "role": ""})
        uow.commit()
    with database.uow() as uow:
        bundle = audit_trail.fhir_bundle(audit_trail.search(uow, ADMIN, audit_trail.AuditQuery()))
    Bundle.model_validate(bundle)
    purpose = bundle["entry"][0]["resource"]["agent"][0]["purposeOfUse"][0]
    assert purpose["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}
    assert "text" not in purpose
