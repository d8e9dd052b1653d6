"""Identity vigilance and regeneration over HTTP: every refusal is French, names what is wrong and writes
nothing; the match proposal lists the candidates the user may see; the patient search is scoped."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.services import boards as board_services
from dcc.services.documents import generate_documents
from dcc.services.schemas import AttendanceInput, DecisionInput
from tests.web.helpers_web import TODAY, Seeded, case_payload


def counts(seeded: Seeded) -> tuple[int, int]:
    with seeded.database.uow() as uow:
        return (int(uow.session.scalar(select(func.count()).select_from(m.Patient)) or 0),
                int(uow.session.scalar(select(func.count()).select_from(m.Case)) or 0))


def payload(seeded: Seeded, board_index: int = 0, **patient: Any) -> dict[str, Any]:
    board = seeded.board(board_index)
    body = case_payload(board.id, seeded.members(board.id)[0].rpps)
    body["patient"] |= patient
    return body


def register(client: TestClient, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = client.post("/api/v1/cases", json=body)
    assert r.status_code == status, r.text
    return dict(r.json())


def test_nir_contradicting_sex_is_refused(client: TestClient, seeded: Seeded) -> None:
    before = counts(seeded)
    body = register(client, payload(seeded, sex="M"), 422)
    assert body["field"] == "patient.sex"
    assert "Le NIR commence par 2 (sexe féminin) mais le sexe déclaré est masculin." in body["message"]
    assert counts(seeded) == before


def test_nir_contradicting_birth_month_is_refused(client: TestClient, seeded: Seeded) -> None:
    before = counts(seeded)
    body = register(client, payload(seeded, birth_date="1975-04-12"), 422)
    assert body["field"] == "patient.birth_date"
    assert "mois de naissance 03" in body["message"] and "04/1975" in body["message"]
    assert counts(seeded) == before


def test_nir_contradicting_birth_department_is_refused(client: TestClient, seeded: Seeded) -> None:
    body = register(client, payload(seeded, birthplace_insee="49007"), 422)
    assert body["field"] == "patient.birthplace_insee" and "département 44" in body["message"]


def test_known_ins_with_other_traits_is_refused_with_409(client: TestClient, seeded: Seeded) -> None:
    register(client, payload(seeded))
    before = counts(seeded)
    body = register(client, payload(seeded, 1, birth_family="DURAND", birth_given_first="JEANNE"), 409)
    assert body["code"] == "conflit_identite" and body["field"] == "patient.ins_matricule"
    assert "nom de naissance, premier prénom de naissance différent" in body["message"]
    assert "jamais fusionnées" in body["message"]
    assert counts(seeded) == before


def test_duplicate_open_case_on_the_same_board_is_refused(client: TestClient, seeded: Seeded) -> None:
    register(client, payload(seeded))
    before = counts(seeded)
    body = register(client, payload(seeded), 409)
    assert "déjà un dossier en cours" in body["message"] and body["field"] == "board_id"
    assert counts(seeded) == before
    register(client, payload(seeded, 1))  # same patient, another board


def test_patient_without_ins_gets_the_match_proposal(client: TestClient, seeded: Seeded) -> None:
    first = register(client, payload(seeded))
    patient_id = client.get(f"/api/v1/cases/{first['id']}").json()["patient_id"]
    no_ins = payload(seeded, 1, ins_matricule=None, ins_qualified=False, birth_family="Martin")
    before = counts(seeded)
    body = register(client, no_ins, 409)
    assert "mêmes traits" in body["message"] and body["hidden_candidates"] == 0
    [candidate] = body["candidates"]
    assert candidate["id"] == patient_id and candidate["birth_family"] == "MARTIN"
    assert candidate["birth_date"] == "1975-03-12" and candidate["ins_qualified"] is True
    assert counts(seeded) == before
    # the coordinator picks the proposed patient
    picked = register(client, {k: v for k, v in no_ins.items() if k != "patient"} | {"patient_id": patient_id})
    assert client.get(f"/api/v1/cases/{picked['id']}").json()["patient_id"] == patient_id
    # or confirms a new patient explicitly (on a third board)
    other = payload(seeded, 2, ins_matricule=None, ins_qualified=False) | {"new_patient": True}
    created = register(client, other)
    assert client.get(f"/api/v1/cases/{created['id']}").json()["patient_id"] != patient_id


def test_choosing_and_confirming_at_once_is_refused(client: TestClient, seeded: Seeded) -> None:
    body = register(client, payload(seeded) | {"patient_id": "x", "new_patient": True}, 422)
    assert "pas les deux" in body["message"]


def test_patient_search_by_name_date_and_ins_is_scoped(client: TestClient, seeded: Seeded) -> None:
    register(client, payload(seeded))
    with seeded.database.uow() as uow:  # a patient with no case on the coordinator's boards
        uow.session.add(m.Patient(ins_matricule=None, ins_oid=None, birth_family="MARTIN", birth_given_first="LUC",
                                  birth_given_all="LUC", birth_date=TODAY.replace(year=1960), sex="M",
                                  birthplace_insee="44109"))
        uow.commit()
    for q in ("martin", "Claire MARTIN", "12/03/1975", "1975-03-12", "27503441"):
        hits = client.get("/api/v1/patients/search", params={"q": q})
        assert hits.status_code == 200, hits.text
        assert [h["birth_given_first"] for h in hits.json()] == ["CLAIRE"], q
    assert client.get("/api/v1/patients/search", params={"q": "durand"}).json() == []
    assert client.get("/api/v1/patients/search", params={"q": "x"}).status_code == 422


def _decided_case(client: TestClient, seeded: Seeded, **patient: Any) -> str:
    body = payload(seeded, **patient) | {"tnm_t": "T2", "tnm_n": "N0", "tnm_m": "M0", "tnm_edition": 8}
    case_id = str(register(client, body)["id"])
    db = seeded.database
    seeded.plan()
    seeded.assign()
    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None and case.session_id
        session_id = case.session_id
    members = seeded.members(seeded.board(0).id)
    with db.uow() as uow:
        board_services.record_attendance(uow, session_id=session_id, actor="coord",
                                         data=AttendanceInput(attendance={p.id: "present" for p in members}))
    with db.uow() as uow:
        board_services.record_decision(uow, case_id=case_id, actor="coord", data=DecisionInput(
            session_id=session_id, case_status="discussed", proposal_codes=["387713003"],
            proposal_text="Chirurgie première.", conform_to_referential=True))
    with db.uow() as uow:
        board_services.validate_session(uow, session_id=session_id, today=TODAY, actor="coord")
    with db.uow() as uow:
        generate_documents(uow, case_ids=[case_id], cda=cda_builder(), pdf=pdf_renderer())
    return case_id


def test_qualifying_the_identity_regenerates_refused_documents(client: TestClient, seeded: Seeded) -> None:
    case_id = _decided_case(client, seeded, ins_qualified=False)
    case = client.get(f"/api/v1/cases/{case_id}").json()
    assert case["documents"] == [] and case["documents_missing"]
    r = client.post(f"/api/v1/patients/{case['patient_id']}/identity-qualification")
    assert r.status_code == 200, r.text
    case = client.get(f"/api/v1/cases/{case_id}").json()
    assert case["documents"] and case["documents_missing"] == []


def test_regenerate_endpoint_replaces_drafts_then_refuses_signed(client: TestClient, seeded: Seeded) -> None:
    case_id = _decided_case(client, seeded)
    before = {d["id"] for d in client.get(f"/api/v1/cases/{case_id}").json()["documents"]}
    assert before
    r = client.post(f"/api/v1/cases/{case_id}/regenerate")
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out["removed"]) == before and out["created"] and not set(out["created"]) & before
    assert out["refused"] == "" and out["documents_missing"] == []
    with seeded.database.uow() as uow:
        for doc in uow.session.scalars(select(m.Document).where(m.Document.case_id == case_id)):
            doc.status = "signed"
        uow.commit()
    refused = client.post(f"/api/v1/cases/{case_id}/regenerate")
    assert refused.status_code == 409 and "correction" in refused.json()["message"]


def test_regenerate_an_undecided_case_is_a_conflict(client: TestClient, seeded: Seeded) -> None:
    case_id = register(client, payload(seeded))["id"]
    r = client.post(f"/api/v1/cases/{case_id}/regenerate")
    assert r.status_code == 409 and "décision validée" in r.json()["message"]


def test_completing_the_tumour_regenerates_the_documents_of_a_refused_case(client: TestClient,
                                                                           seeded: Seeded) -> None:
    case_id = _decided_case(client, seeded)
    with seeded.database.uow() as uow:  # the TNM was never entered: generation refuses the Fiche RCP
        for doc in uow.session.scalars(select(m.Document).where(m.Document.case_id == case_id)):
            uow.session.delete(doc)
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        case.tnm_t = case.tnm_n = case.tnm_m = case.tnm_edition = None
        uow.commit()
    with seeded.database.uow() as uow:
        refused = generate_documents(uow, case_ids=[case_id], cda=cda_builder(), pdf=pdf_renderer()).refused
    assert "classification TNM" in refused[case_id]
    case = client.get(f"/api/v1/cases/{case_id}").json()
    assert case["documents"] == [] and case["documents_missing"] == ["classification TNM"]

    r = client.put(f"/api/v1/cases/{case_id}/tumour", json={
        "topography_code": case["topography_code"], "laterality": case["laterality"],
        "tnm_t": "pT1c", "tnm_n": "pN0", "tnm_m": "cM0", "tnm_edition": 8, "tnm_stage": "IA"})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["documents_missing"] == [] and [d["kind"] for d in after["documents"]] == ["FRCP"]
    with seeded.database.uow() as uow:
        frcp = uow.session.scalars(select(m.Document).where(m.Document.case_id == case_id)).one()
        assert b'code="T1c"' in frcp.cda and b"pT1c" in frcp.cda
        actions = [e.action for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.entity_id == case_id).order_by(m.AuditEvent.id))]
    assert actions.index("case.update_tumour") < actions.index("document.regenerate")
