"""What the patient decides, recorded through the API: opposition to the DMP, identity qualified, the
announcement consultation and masking, each acting on the outbox (the real dispatcher's inputs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.services.delivery import METADATA_UPDATE, REASON_INS, REASON_OPPOSITION
from tests.web.helpers_web import Seeded, add_document, case_payload


@pytest.fixture
def signed(client: TestClient, seeded: Seeded) -> dict[str, str]:
    """A signed document waiting to go to the DMP and, by MSSanté, to the GP."""
    board = seeded.board(0)
    case_id = client.post("/api/v1/cases", json=case_payload(board.id, seeded.members(board.id)[0].rpps)).json()["id"]
    doc_id, msgs = add_document(seeded.database, case_id=case_id, unique_id="1.2.250.1.999.2.1.1",
                                destinations={"dmp:A": "pending", "mss:A": "pending"})
    with seeded.database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        patient_id = case.patient_id
    return {"document": doc_id, "patient": patient_id, "dmp": msgs["dmp:A"], "mss": msgs["mss:A"],
            "case": case_id}


def _message(seeded: Seeded, msg_id: str) -> tuple[str, str]:
    with seeded.database.uow() as uow:
        msg = uow.session.get(m.OutboxMessage, msg_id)
        assert msg is not None
        return msg.state, msg.hold_reason


def _audit_actions(seeded: Seeded, entity_id: str) -> list[str]:
    with seeded.database.uow() as uow:
        return list(uow.session.scalars(select(m.AuditEvent.action).where(m.AuditEvent.entity_id == entity_id)))


def test_opposition_blocks_the_dmp_message_then_lifting_it_releases_it(client: TestClient, seeded: Seeded,
                                                                     signed: dict[str, str]) -> None:
    url = f"/api/v1/patients/{signed['patient']}/dmp-opposition"
    r = client.post(url, json={"opposed": True, "reason": "refus exprimé en consultation"})
    assert r.status_code == 200, r.text
    assert r.json() == {"patient_id": signed["patient"], "dmp_opposition": True, "messages_changed": 1}
    state, reason = _message(seeded, signed["dmp"])
    assert state == "blocked" and reason.startswith(REASON_OPPOSITION) and "refus exprimé" in reason
    assert _message(seeded, signed["mss"])[0] == "pending"  # the GP still gets the report
    assert "patient.dmp_opposition" in _audit_actions(seeded, signed["patient"])

    r = client.post(url, json={"opposed": False})
    assert r.status_code == 200 and r.json()["messages_changed"] == 1
    assert _message(seeded, signed["dmp"]) == ("pending", "")


def test_identity_qualification_releases_held_messages(client: TestClient, seeded: Seeded,
                                                       signed: dict[str, str]) -> None:
    with seeded.database.uow() as uow:
        patient = uow.session.get(m.Patient, signed["patient"])
        assert patient is not None
        patient.ins_qualified = False
        for msg_id in (signed["dmp"], signed["mss"]):
            msg = uow.session.get(m.OutboxMessage, msg_id)
            assert msg is not None
            msg.state, msg.hold_reason = "held", REASON_INS
        uow.commit()
    r = client.post(f"/api/v1/patients/{signed['patient']}/identity-qualification")
    assert r.status_code == 200, r.text
    assert r.json() == {"patient_id": signed["patient"], "ins_qualified": True, "messages_released": 2}
    assert _message(seeded, signed["dmp"]) == ("pending", "")
    assert client.get(f"/api/v1/patients/{signed['patient']}").json()["ins_qualified"] is True


def test_announcement_and_masking_queue_metadata_updates(client: TestClient, seeded: Seeded,
                                                         signed: dict[str, str]) -> None:
    doc = signed["document"]
    r = client.post(f"/api/v1/documents/{doc}/announcement", json={"when": "2026-03-04T10:30:00+01:00"})
    assert r.status_code == 200, r.text
    assert r.json() == {"document_id": doc, "announced": True, "masked": False, "metadata_updates": 1}
    assert client.post(f"/api/v1/documents/{doc}/announcement", json={}).json()["metadata_updates"] == 0  # idempotent
    r = client.post(f"/api/v1/documents/{doc}/masking", json={"masked": True})
    assert r.status_code == 200 and r.json()["masked"] is True and r.json()["metadata_updates"] == 1
    with seeded.database.uow() as uow:
        updates = list(uow.session.scalars(select(m.OutboxMessage).where(
            m.OutboxMessage.document_id == doc, m.OutboxMessage.kind == METADATA_UPDATE)))
        assert [u.destination for u in updates] == ["dmp:A"]  # the DMP only: a mail once sent is final
        stored = uow.session.get(m.Document, doc)
        assert stored is not None and stored.announced_at is not None
        at = stored.announced_at if stored.announced_at.tzinfo else stored.announced_at.replace(tzinfo=UTC)
        assert at == datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    actions = _audit_actions(seeded, doc)
    assert "document.announce" in actions and "document.mask" in actions


def test_bad_input_is_refused_in_plain_words(client: TestClient, seeded: Seeded, signed: dict[str, str]) -> None:
    doc = signed["document"]
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    r = client.post(f"/api/v1/documents/{doc}/announcement", json={"when": future})
    assert r.status_code == 422 and "futur" in r.json()["message"]
    r = client.post(f"/api/v1/documents/{doc}/announcement", json={"when": "2026-03-04T10:30:00"})  # no zone
    assert r.status_code == 422
    r = client.post(f"/api/v1/patients/{signed['patient']}/dmp-opposition", json={"opposed": "peut-être"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/patients/{signed['patient']}/dmp-opposition", json={"reason": "x" * 501})
    assert r.status_code == 422
    assert _message(seeded, signed["dmp"]) == ("pending", "")  # nothing half-written
    draft_id, _ = add_document(seeded.database, case_id=signed["case"], unique_id="1.2.250.1.999.2.2.1",
                               status="draft", kind="PPS")
    for path, body in (("announcement", {}), ("masking", {"masked": True})):
        r = client.post(f"/api/v1/documents/{draft_id}/{path}", json=body)
        assert r.status_code == 409 and "brouillon" in r.json()["message"], r.text


def test_a_minor_s_secret_from_legal_representatives_is_recorded_an_adult_s_refused(
        client: TestClient, seeded: Seeded, signed: dict[str, str]) -> None:
    url = f"/api/v1/patients/{signed['patient']}/legal-representatives-secret"
    with seeded.database.uow() as uow:
        patient = uow.session.get(m.Patient, signed["patient"])
        assert patient is not None
        patient.birth_date = datetime.now(UTC).date().replace(year=datetime.now(UTC).year - 30, day=1)
        uow.commit()
    r = client.post(url, json={"secret": True})
    assert r.status_code == 409 and "majeur" in r.json()["message"]
    with seeded.database.uow() as uow:
        patient = uow.session.get(m.Patient, signed["patient"])
        assert patient is not None and patient.secret_from_legal_representatives is False
        patient.birth_date = datetime.now(UTC).date().replace(year=datetime.now(UTC).year - 12, day=1)
        uow.commit()
    r = client.post(url, json={"secret": True})
    assert r.status_code == 200, r.text
    # the document is not in the DMP yet: its submission carries the code, and the queued update is closed as
    # already up to date once it is delivered
    assert r.json()["secret_from_legal_representatives"] is True and r.json()["metadata_updates"] == 1
    assert "patient.minor_secret" in _audit_actions(seeded, signed["patient"])
    with seeded.database.uow() as uow:
        patient = uow.session.get(m.Patient, signed["patient"])
        assert patient is not None and patient.secret_from_legal_representatives is True
