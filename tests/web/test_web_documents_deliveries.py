"""Documents (metadata, CDA, PDF) and deliveries (outbox listing, requeue of dead letters)."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from tests.web.helpers_web import DOC_CDA as CDA
from tests.web.helpers_web import DOC_PDF as PDF
from tests.web.helpers_web import TEST_LOGIN, Seeded, add_document, case_payload


@pytest.fixture
def outbox(client: TestClient, seeded: Seeded) -> dict[str, str]:
    """A signed document with two outbox messages: one dead letter, one pending."""
    board = seeded.board(0)
    r = client.post("/api/v1/cases", json=case_payload(board.id, seeded.members(board.id)[0].rpps))
    case_id = r.json()["id"]
    doc_id, msgs = add_document(seeded.database, case_id=case_id, unique_id="1.2.250.1.999.1.1.1",
                                destinations={"dmp:A": "dead", "mss:medecin-traitant": "pending"})
    with seeded.database.uow() as uow:
        dead = uow.session.get(m.OutboxMessage, msgs["dmp:A"])
        assert dead is not None
        dead.attempts, dead.last_error = 1, "XDSRegistryMetadataError : typeCode inconnu"
        uow.commit()
    return {"document": doc_id, "dead": msgs["dmp:A"], "pending": msgs["mss:medecin-traitant"], "case": case_id}


def test_document_metadata_and_bytes(client: TestClient, outbox: dict[str, str]) -> None:
    doc_id = outbox["document"]
    r = client.get(f"/api/v1/documents/{doc_id}")
    assert r.status_code == 200
    meta = r.json()
    assert meta["kind"] == "FRCP" and meta["version"] == 1
    assert meta["unique_id"] == "1.2.250.1.999.1.1.1"
    assert meta["status"] == "signed"
    assert meta["sha256"] == hashlib.sha256(CDA).hexdigest()
    assert meta["signed_at"].startswith("2026-03-03T14:00:00")
    assert "cda" not in meta and "pdf" not in meta

    r = client.get(f"/api/v1/documents/{doc_id}/cda")
    assert r.status_code == 200 and r.content == CDA
    assert r.headers["content-type"].startswith("application/xml")
    r = client.get(f"/api/v1/documents/{doc_id}/pdf")
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")

    case = client.get(f"/api/v1/cases/{outbox['case']}").json()
    assert [d["id"] for d in case["documents"]] == [doc_id]


def test_unknown_document_is_404(client: TestClient, seeded: Seeded) -> None:
    for suffix in ("", "/cda", "/pdf"):
        r = client.get(f"/api/v1/documents/inconnu{suffix}")
        assert r.status_code == 404
        assert r.json()["message"] == "Document « inconnu » introuvable."


def test_list_deliveries_by_state(client: TestClient, outbox: dict[str, str]) -> None:
    everything = client.get("/api/v1/deliveries").json()
    assert {d["id"] for d in everything} == {outbox["dead"], outbox["pending"]}
    dead = client.get("/api/v1/deliveries", params={"state": "dead"}).json()
    assert [d["id"] for d in dead] == [outbox["dead"]]
    assert dead[0]["destination"] == "dmp:A"
    assert dead[0]["attempts"] == 1
    assert dead[0]["last_error"].startswith("XDSRegistryMetadataError")
    assert dead[0]["document_unique_id"] == "1.2.250.1.999.1.1.1"
    assert client.get("/api/v1/deliveries", params={"state": "delivered"}).json() == []
    r = client.get("/api/v1/deliveries", params={"state": "perdu"})
    assert r.status_code == 422
    assert r.json()["field"] == "state"


def test_requeue_dead_letter_only(client: TestClient, outbox: dict[str, str]) -> None:
    r = client.post(f"/api/v1/deliveries/{outbox['pending']}/requeue")
    assert r.status_code == 409
    assert r.json()["code"] == "conflit"
    assert "lettre morte" in r.json()["message"]

    r = client.post(f"/api/v1/deliveries/{outbox['dead']}/requeue")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending" and r.json()["attempts"] == 0
    assert client.get("/api/v1/deliveries", params={"state": "dead"}).json() == []

    r = client.post("/api/v1/deliveries/inconnu/requeue")
    assert r.status_code == 404
    assert r.json()["message"] == "Envoi « inconnu » introuvable."


def test_requeue_is_audited_with_the_actor(client: TestClient, outbox: dict[str, str],
                                           seeded: Seeded) -> None:
    client.post(f"/api/v1/deliveries/{outbox['dead']}/requeue")
    with seeded.database.uow() as uow:
        events = [(e.actor, e.action) for e in repo.audit_events(uow.session)]
    assert (TEST_LOGIN, "delivery.requeue") in events
    assert (TEST_LOGIN, "case.register") in events


def test_metrics_count_documents_and_outbox(client: TestClient, outbox: dict[str, str]) -> None:
    text = client.get("/metrics").text
    assert 'dcc_documents{status="signed"} 1.0' in text
    assert 'dcc_outbox_messages{state="dead"} 1.0' in text
    assert 'dcc_outbox_messages{state="pending"} 1.0' in text
