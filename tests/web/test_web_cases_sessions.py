"""Cases and sessions API: registration, agenda after planning and assignment, attendance, decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.web.helpers_web import TODAY, Seeded, case_payload, nir


def _requester(seeded: Seeded, board_id: str) -> str:
    return seeded.members(board_id)[0].rpps


def _register(client: TestClient, seeded: Seeded, first13: str, **overrides: Any) -> str:
    board = seeded.board(0)
    payload = case_payload(board.id, _requester(seeded, board.id), first13=first13, **overrides)
    r = client.post("/api/v1/cases", json=payload)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_register_case_then_read_it(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    payload = case_payload(board.id, _requester(seeded, board.id), pathology_report=False)
    r = client.post("/api/v1/cases", json=payload)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert body["not_ready"] == ["compte rendu anatomopathologique"]
    assert r.headers["location"] == f"/api/v1/cases/{body['id']}"
    case = client.get(f"/api/v1/cases/{body['id']}").json()
    assert case["board_id"] == board.id
    assert case["topography_code"] == "C50.9"
    assert case["patient_display_name"] == "MARTIN (nom d'usage DUPONT) Claire"
    assert case["ins_qualified"] is True
    assert case["decision"] is None and case["documents"] == []


def test_register_case_nir_with_wrong_key(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    payload = case_payload(board.id, _requester(seeded, board.id))
    good = payload["patient"]["ins_matricule"]
    payload["patient"]["ins_matricule"] = good[:13] + f"{(int(good[13:]) % 97) + 1:02d}"
    r = client.post("/api/v1/cases", json=payload)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "patient.ins_matricule"
    assert body["message"].startswith("Champ « patient.ins_matricule » : Le NIR")
    assert "clé de contrôle" in body["message"]


def test_register_case_unknown_icd10(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    r = client.post("/api/v1/cases", json=case_payload(board.id, _requester(seeded, board.id),
                                                       topography_code="C99.9"))
    assert r.status_code == 422
    assert r.json()["field"] == "topography_code"
    assert "C99.9" in r.json()["message"] and "JDV_Tumeur_CISIS" in r.json()["message"]


def test_register_case_unknown_board_or_requester(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    r = client.post("/api/v1/cases", json=case_payload("inconnue", _requester(seeded, board.id)))
    assert (r.status_code, r.json()["field"]) == (422, "board_id")
    r = client.post("/api/v1/cases", json=case_payload(board.id, "10000000009"))  # valid key, nobody
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "requester_rpps"


def test_unknown_case_is_404(client: TestClient, seeded: Seeded) -> None:
    assert client.get("/api/v1/cases/inconnu").status_code == 404
    r = client.post("/api/v1/cases/inconnu/decision", json={"session_id": "x", "case_status": "discussed"})
    assert r.status_code == 404
    assert r.json()["message"] == "Dossier « inconnu » introuvable."


def test_sessions_list_and_agenda_after_planning_and_assignment(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    first = _register(client, seeded, "2750344109123")
    urgent = _register(client, seeded, "1680549007456", urgent=True)
    later = _register(client, seeded, "2810744109789", earliest_date=(TODAY + timedelta(days=21)).isoformat())
    summary = seeded.assign()
    assert summary.assigned == 3

    r = client.get("/api/v1/sessions", params={"board": board.id, "from": TODAY.isoformat(),
                                               "to": (TODAY + timedelta(days=20)).isoformat()})
    assert r.status_code == 200
    sessions = r.json()
    assert len(sessions) == 3  # three Tuesdays in three weeks
    assert all(s["board_id"] == board.id and s["board_name"] == board.name for s in sessions)
    assert [s["starts_at"] for s in sessions] == sorted(s["starts_at"] for s in sessions)
    # the first Tuesday's registration deadline (2 working days before) has passed
    assert sessions[0]["registration_deadline"] < TODAY.isoformat() and sessions[0]["cases"] == 0
    first_session = sessions[1]
    assert first_session["cases"] == 2
    assert first_session["quorum"] == "unknown"

    agenda = client.get(f"/api/v1/sessions/{first_session['id']}").json()
    assert agenda["session"]["id"] == first_session["id"]
    assert agenda["place"] == board.place
    assert [item["case_id"] for item in agenda["items"]] == [urgent, first]  # urgent first
    assert [item["position"] for item in agenda["items"]] == [1, 2]
    item = agenda["items"][1]
    assert item["patient_display_name"] == "MARTIN (nom d'usage DUPONT) Claire"
    assert item["assignment_reason"]
    assert item["not_ready"] == []
    assert item["urgent"] is False and agenda["items"][0]["urgent"] is True

    later_case = client.get(f"/api/v1/cases/{later}").json()
    assert later_case["session_id"] not in {s["id"] for s in sessions}

    all_sessions = client.get("/api/v1/sessions").json()
    assert len(all_sessions) > len(sessions)


def test_sessions_query_errors(client: TestClient, seeded: Seeded) -> None:
    r = client.get("/api/v1/sessions", params={"from": "2026-03-10", "to": "2026-03-01"})
    assert (r.status_code, r.json()["field"]) == (422, "to")
    r = client.get("/api/v1/sessions", params={"from": "10/03/2026"})
    assert r.status_code == 422
    assert r.json()["message"] == "Champ « from » : une date au format AAAA-MM-JJ est attendue"
    assert client.get("/api/v1/sessions", params={"board": "inconnue"}).status_code == 404
    r = client.get("/api/v1/sessions/inconnue")
    assert r.status_code == 404
    assert r.json()["message"] == "Séance « inconnue » introuvable."


def test_attendance_decision_validation(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    case_a = _register(client, seeded, "2750344109123")
    in_three_weeks = (TODAY + timedelta(days=21)).isoformat()
    case_b = _register(client, seeded, "1680549007456", earliest_date=in_three_weeks)
    seeded.assign()
    session_a = client.get(f"/api/v1/cases/{case_a}").json()["session_id"]
    session_b = client.get(f"/api/v1/cases/{case_b}").json()["session_id"]
    assert session_a and session_b and session_a != session_b

    r = client.post(f"/api/v1/sessions/{session_a}/attendance", json={"attendance": {"inconnu": "present"}})
    assert (r.status_code, r.json()["field"]) == (422, "attendance")
    r = client.post(f"/api/v1/sessions/{session_a}/attendance", json={"attendance": {"x": "en vacances"}})
    assert r.status_code == 422
    assert r.json()["field"] == "attendance.x"
    assert "valeur attendue" in r.json()["message"]

    attendance = {p.id: "present" for p in seeded.members(board.id)}
    r = client.post(f"/api/v1/sessions/{session_a}/attendance", json={"attendance": attendance})
    assert r.status_code == 200, r.text
    assert r.json()["quorum"] == "met"
    assert r.json()["status"] == "held"
    agenda = client.get(f"/api/v1/sessions/{session_a}").json()
    assert {a["professional_id"] for a in agenda["attendance"]} == set(attendance)

    decision = {"session_id": session_b, "case_status": "discussed", "proposal_codes": ["387713003"],
                "proposal_text": "Chimiothérapie adjuvante.", "conform_to_referential": True}
    r = client.post(f"/api/v1/cases/{case_a}/decision", json=decision)  # case of another session
    assert r.status_code == 422
    assert r.json()["field"] == "session_id"
    assert "séance" in r.json()["message"]

    r = client.post(f"/api/v1/cases/{case_a}/decision", json={**decision, "conform_to_referential": False})
    assert r.status_code == 422
    assert "justifiée" in r.json()["message"]

    r = client.post(f"/api/v1/cases/{case_a}/decision", json={**decision, "session_id": session_a})
    assert r.status_code == 200, r.text
    assert r.json()["quorum"] == "met" and r.json()["locked"] is False
    assert client.get(f"/api/v1/cases/{case_a}").json()["decision"]["proposal_codes"] == ["387713003"]

    generated: list[list[str]] = []
    client.app.state.on_session_validated = generated.append  # type: ignore[attr-defined]
    r = client.post(f"/api/v1/sessions/{session_a}/validate")
    assert r.status_code == 200, r.text
    assert generated == [[case_a]]  # document generation triggered with the decided cases
    assert r.json()["case_ids"] == [case_a]
    assert r.json()["represented"] == []
    assert r.json()["session"]["status"] == "validated"
    assert client.get(f"/api/v1/cases/{case_a}").json()["decision"]["locked"] is True

    r = client.post(f"/api/v1/sessions/{session_a}/validate")
    assert r.status_code == 409
    assert r.json()["code"] == "conflit"
    r = client.post(f"/api/v1/cases/{case_a}/decision", json={**decision, "session_id": session_a})
    assert r.status_code == 409
    assert client.post("/api/v1/sessions/inconnue/validate").status_code == 404


def test_nir_helper_is_valid() -> None:
    assert len(nir()) == 15
