"""The deliveries screen's service: what each message shows (initials, board, case, document kind, destination in
words), the dead letters' French reason, and requeue of one or many by the roles and scopes allowed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.errors import ValidationFailed
from dcc.services import deliveries
from dcc.services.access import AccessDenied, User
from dcc.services.uow import Database
from tests.services.test_indicators import build
from tests.web.helpers_web import add_document

MONITOR_A = User(login="obs-a", role="monitor", region_code="RA", establishment_id=None, professional_id=None,
                 display_name="Observateur A")
MONITOR_B = User(login="obs-b", role="monitor", region_code="RB", establishment_id=None, professional_id=None,
                 display_name="Observateur B")


def outbox(db: Database) -> dict[str, str]:
    ids = build(db)
    with db.uow() as uow:
        case_a = uow.session.scalars(select(m.Case).where(m.Case.board_id == ids["B1"])
                                     .order_by(m.Case.created_at)).first()
        assert case_a is not None
        case_a.registration_number = "RCP-2026-0001"
        patient = uow.session.get(m.Patient, case_a.patient_id)
        assert patient is not None
        patient.used_given, patient.birth_given_first = "", "Jean-Pierre"
        gp = m.Professional(rpps="10000000002", family="Durand", given="Claire", prefix="Dr",
                            specialty_code="SM54", establishment_id=ids["E1"])
        uow.session.add(gp)
        uow.session.flush()
        patient.referring_gp_id = gp.id
        case_b = uow.session.scalars(select(m.Case).where(m.Case.board_id == ids["B4"])).first()
        assert case_b is not None
        uow.commit()
        case_a_id, case_b_id = case_a.id, case_b.id
    _, msgs_a = add_document(db, case_id=case_a_id, unique_id="1.2.250.1.999.1",
                             destinations={"dmp:RA": "dead", "mss:RA": "pending"})
    _, msgs_b = add_document(db, case_id=case_b_id, unique_id="1.2.250.1.999.2", kind="PPS",
                             destinations={"dmp:RB": "dead"})
    with db.uow() as uow:
        dead = uow.session.get(m.OutboxMessage, msgs_a["dmp:RA"])
        assert dead is not None
        dead.attempts, dead.last_error = 8, "HTTP 503 Service Unavailable [Retry-After : 30 s]"
        uow.session.add(m.DeliveryAttempt(message_id=dead.id, destination="dmp:RA", outcome="transient",
                                          status_code=503, at=datetime(2026, 3, 3, 15, tzinfo=UTC)))
        pending = uow.session.get(m.OutboxMessage, msgs_a["mss:RA"])
        assert pending is not None
        pending.attempts, pending.next_attempt_at = 1, datetime(2026, 3, 3, 16, 30, tzinfo=UTC)
        pending.last_error = "connexion refusée"
        uow.session.add(m.DeliveryAttempt(message_id=pending.id, destination="mss:RA", outcome="transient",
                                          error_code="connexion_interrompue", at=datetime(2026, 3, 3, 15, tzinfo=UTC)))
        uow.commit()
    return {"dead_a": msgs_a["dmp:RA"], "pending_a": msgs_a["mss:RA"], "dead_b": msgs_b["dmp:RB"], **ids}


def test_each_message_is_recognisable_without_the_patients_name(database: Database) -> None:
    ids = outbox(database)
    with database.uow() as uow:
        listing = deliveries.list_deliveries(uow, MONITOR_A, state=None)
    assert {r.id for r in listing.rows} == {ids["dead_a"], ids["pending_a"]}  # region B's is out of scope
    dead = next(r for r in listing.rows if r.id == ids["dead_a"])
    assert dead.patient_initials == "J.-P. D."  # Jean-Pierre DUPONT
    assert (dead.board_name, dead.case_label, dead.document_kind) == ("RCP B1", "RCP-2026-0001", "Fiche RCP")
    assert dead.destination_label == "DMP région A"  # the region is named "Région A"
    pending = next(r for r in listing.rows if r.id == ids["pending_a"])
    assert pending.destination_label == "MSSanté Dr Claire Durand (médecin traitant)"
    assert "DUPONT" not in repr(listing) and "Jean" not in repr(listing)
    assert listing.counts == {"DMP région A": {"dead": 1}, "MSSanté région A": {"pending": 1}}
    assert listing.can_requeue


def test_dead_letter_reason_never_announces_a_retry(database: Database) -> None:
    ids = outbox(database)
    with database.uow() as uow:
        listing = deliveries.list_deliveries(uow, MONITOR_A, state=None)
    dead = next(r for r in listing.rows if r.id == ids["dead_a"])
    assert dead.reason.startswith("Échec définitif après 8 tentatives : aucune nouvelle tentative n'est prévue.")
    assert "code HTTP 503" in dead.reason
    assert "Retry-After" not in dead.reason and "Nouvelle tentative prévue" not in dead.reason
    pending = next(r for r in listing.rows if r.id == ids["pending_a"])
    # 16:30 UTC on 3 March 2026 is 17:30 in Paris
    assert pending.reason == ("La connexion avec la messagerie sécurisée de santé a été interrompue ou refusée. "
                              "Détail : connexion refusée. Nouvelle tentative prévue le 03/03/2026 à 17:30.")


def test_monitor_requeues_in_its_region_only_and_it_is_audited(database: Database) -> None:
    ids = outbox(database)
    with database.uow() as uow:
        result = deliveries.requeue_deliveries(uow, MONITOR_A, [ids["dead_a"], ids["dead_b"], ids["pending_a"]])
    assert result.requeued == [ids["dead_a"]]
    assert result.refused[ids["dead_b"]].endswith("introuvable.")  # out of scope: as if missing
    assert "lettre morte" in result.refused[ids["pending_a"]]
    with database.uow() as uow:
        assert uow.session.get(m.OutboxMessage, ids["dead_a"]).state == "pending"  # type: ignore[union-attr]
        assert uow.session.get(m.OutboxMessage, ids["dead_b"]).state == "dead"  # type: ignore[union-attr]
        actions = [(e.actor, e.action, e.entity_id) for e in uow.session.scalars(select(m.AuditEvent))]
    assert ("obs-a", "delivery.requeue", ids["dead_a"]) in actions
    assert ("obs-a", "access.refused", ids["dead_b"]) in actions
    with database.uow() as uow:
        assert deliveries.requeue_deliveries(uow, MONITOR_B, [ids["dead_b"]]).requeued == [ids["dead_b"]]


def test_requeue_refusals(database: Database) -> None:
    ids = outbox(database)
    physician = User(login="p", role="physician", region_code="RA", establishment_id=None, professional_id=None,
                     display_name="P")
    with database.uow() as uow:
        with pytest.raises(AccessDenied):
            deliveries.requeue_deliveries(uow, physician, [ids["dead_a"]])
        with pytest.raises(ValidationFailed):
            deliveries.requeue_deliveries(uow, MONITOR_A, [])
        with pytest.raises(AccessDenied):
            deliveries.list_deliveries(uow, physician)
        with pytest.raises(ValidationFailed):
            deliveries.list_deliveries(uow, MONITOR_A, state="parti")
