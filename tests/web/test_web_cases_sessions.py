"""Cases and sessions API: registration, agenda after planning and assignment, attendance, decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from dcc.adapters import orchestration
from dcc.adapters.db import models as m
from dcc.services import boards as board_services
from tests.web.helpers_web import TODAY, Seeded, case_payload, nir


def _documents_due(database: Any) -> list[tuple[str, str]]:
    """(case id, state) of every "documents due" row the validations wrote."""
    with database.uow() as uow:
        return sorted((t.case_id, t.state) for t in uow.session.query(m.GenerationTask).all())


def _events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The validation events the web layer emits after its commit (recorded instead of sent)."""
    events: list[tuple[str, int]] = []
    monkeypatch.setattr(orchestration, "emit_session_validated", lambda sid, due: events.append((sid, due)))
    return events


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
                                                       topography_code="C99.9", laterality=None))
    assert r.status_code == 422
    assert r.json()["field"] == "topography_code" and r.json()["code"] == "code_inconnu"
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
    r = client.post("/api/v1/cases/inconnu/decision", json={"session_id": "x", "case_status": "discussed",
                                                                   "proposal_text": "Surveillance."})
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


def test_attendance_decision_validation(client: TestClient, seeded: Seeded, database: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
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

    events = _events(monkeypatch)
    assert _documents_due(database) == []
    r = client.post(f"/api/v1/sessions/{session_a}/validate")
    assert r.status_code == 200, r.text
    assert _documents_due(database) == [(case_a, "pending")]  # committed with the validation, not generated
    assert events == [(session_a, 1)]  # the generation deployment is asked to run (after the commit)
    assert client.get(f"/api/v1/cases/{case_a}").json()["documents"] == []  # no background generation
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
    assert _documents_due(database) == [(case_a, "pending")] and events == [(session_a, 1)]

    # a drain (the Prefect flow, `dcc documents drain`) takes the row: this case was registered without its
    # TNM classification, so its Fiche RCP is refused and the row is a dead letter with the French reason
    from dcc.bootstrap import cda_builder, pdf_renderer
    from dcc.services.generation import generate_pending_documents

    drained = generate_pending_documents(database, cda=cda_builder(), pdf=pdf_renderer())
    assert (drained.generated, drained.dead, list(drained.failures)) == (0, 1, [case_a])
    assert "classification TNM" in drained.failures[case_a], drained.failures
    assert _documents_due(database) == [(case_a, "dead")]
    assert client.get(f"/api/v1/cases/{case_a}").json()["documents"] == []


def test_nir_helper_is_valid() -> None:
    assert len(nir()) == 15


def _two_cases_on_one_session(client: TestClient, seeded: Seeded) -> tuple[str, str, str]:
    seeded.plan(weeks=8)
    case_a = _register(client, seeded, "2750344109123")
    case_b = _register(client, seeded, "1680549007456")
    seeded.assign()
    session = client.get(f"/api/v1/cases/{case_a}").json()["session_id"]
    assert session and client.get(f"/api/v1/cases/{case_b}").json()["session_id"] == session
    return case_a, case_b, session


DECISION = {"case_status": "discussed", "proposal_codes": ["387713003"],
            "proposal_text": "Tumorectomie puis radiothérapie.", "conform_to_referential": True}


def test_validation_with_an_undecided_case_needs_confirmation(client: TestClient, seeded: Seeded, database: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    case_a, case_b, session = _two_cases_on_one_session(client, seeded)
    attendance = {p.id: "present" for p in seeded.members(seeded.board(0).id)}
    assert client.post(f"/api/v1/sessions/{session}/attendance", json={"attendance": attendance}).status_code == 200
    r = client.post(f"/api/v1/cases/{case_a}/decision", json={**DECISION, "session_id": session})
    assert r.status_code == 200, r.text
    events = _events(monkeypatch)

    for body in (None, {"confirm": False}):
        r = client.post(f"/api/v1/sessions/{session}/validate", json=body)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "dossiers_sans_decision"
        assert "1 dossier(s) de la séance du" in r.json()["message"]
        assert "n'ont pas de décision" in r.json()["message"] and "Confirmez la validation" in r.json()["message"]
        assert r.json()["case_ids"] == [case_b]
    assert client.post(f"/api/v1/sessions/{session}/validate", json={"confirm": "bof"}).status_code == 422
    assert client.post(f"/api/v1/sessions/{session}/validate", json={"confirme": True}).status_code == 422
    # nothing written: no row, no event
    assert _documents_due(database) == [] and events == []
    assert client.get(f"/api/v1/sessions/{session}").json()["session"]["status"] == "held"
    assert client.get(f"/api/v1/cases/{case_a}").json()["decision"]["locked"] is False
    b = client.get(f"/api/v1/cases/{case_b}").json()
    assert (b["status"], b["session_id"]) == ("assigned", session)

    r = client.post(f"/api/v1/sessions/{session}/validate", json={"confirm": True})
    assert r.status_code == 200, r.text
    assert r.json()["case_ids"] == [case_a] and events == [(session, 1)]
    assert _documents_due(database) == [(case_a, "pending")]  # the undecided case has no row
    [back] = r.json()["not_discussed"]
    assert back["case_id"] == case_b and back["reason"].startswith("Non discuté à la séance du ")
    b = client.get(f"/api/v1/cases/{case_b}").json()
    assert b["session_id"] == back["session_id"] and b["session_id"] != session
    assert b["status"] == ("assigned" if back["session_id"] else "pending")
    assert b["assignment_reason"] == back["reason"]


def test_a_non_quorate_session_produces_no_fiche_rcp_and_re_presents_its_cases(
        client: TestClient, seeded: Seeded, database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dcc.adapters.db import models as m
    from dcc.bootstrap import cda_builder, pdf_renderer
    from dcc.services.documents import generate_documents

    case_a, case_b, session = _two_cases_on_one_session(client, seeded)
    nobody = {p.id: "absent" for p in seeded.members(seeded.board(0).id)}
    r = client.post(f"/api/v1/sessions/{session}/attendance", json={"attendance": nobody})
    assert r.json()["quorum"] == "not_met"
    for case in (case_a, case_b):
        r = client.post(f"/api/v1/cases/{case}/decision", json={**DECISION, "session_id": session})
        assert r.status_code == 200, r.text
    events = _events(monkeypatch)
    r = client.post(f"/api/v1/sessions/{session}/validate")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["case_ids"] == [] and _documents_due(database) == []  # nothing goes to document generation
    assert events == [(session, 0)]  # (the emitter sends nothing when no document is due)
    assert len(body["represented"]) == 2 and set(body["represented_from"].values()) == {case_a, case_b}
    for new_id, old_id in body["represented_from"].items():
        old, new = client.get(f"/api/v1/cases/{old_id}").json(), client.get(f"/api/v1/cases/{new_id}").json()
        assert old["status"] == "represented" and old["represented_by_id"] == new_id
        assert old["decision"]["quorum"] == "not_met" and old["documents"] == []
        assert new["represented_from_id"] == old_id and new["represented_by_id"] is None
        assert new["session_id"] != session and new["decision"] is None
        assert new["assignment_reason"].startswith("Représenté : quorum non atteint à la séance du ")
    # defence in depth: generation asked directly for a non-quorate decision refuses it, in French
    with database.uow() as uow:
        result = generate_documents(uow, case_ids=[case_a], cda=cda_builder(), pdf=pdf_renderer())
    assert result.created == [] and result.refused[case_a].startswith("Quorum non atteint à la séance du ")
    with database.uow() as uow:
        assert uow.session.query(m.Document).count() == 0 and uow.session.query(m.OutboxMessage).count() == 0


def test_a_session_validated_without_attendance_is_not_quorate(client: TestClient, seeded: Seeded) -> None:
    case_a, case_b, session = _two_cases_on_one_session(client, seeded)
    for case in (case_a, case_b):
        r = client.post(f"/api/v1/cases/{case}/decision", json={**DECISION, "session_id": session})
        assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/sessions/{session}/validate")
    assert r.status_code == 200, r.text
    assert r.json()["case_ids"] == [] and len(r.json()["represented"]) == 2
    assert r.json()["session"]["quorum"] == "not_met"


# ------------------------------------------------------------------ time runs forward: nothing before the session

PARIS_TZ = ZoneInfo("Europe/Paris")


def _case_on_a_future_session(client: TestClient, seeded: Seeded) -> tuple[str, str, datetime]:
    """A case assigned to a session ahead of the real clock (planned and assigned from the real today):
    (case id, session id, the session's start in Paris)."""
    today = datetime.now(PARIS_TZ).date()
    with seeded.database.uow() as uow:
        board_services.plan_sessions(uow, today=today, horizon_weeks=4)
    case_id = _register(client, seeded, "2750344109123", earliest_date=today.isoformat())
    with seeded.database.uow() as uow:
        assert board_services.assign_cases(uow, today=today).assigned == 1
    session_id = client.get(f"/api/v1/cases/{case_id}").json()["session_id"]
    with seeded.database.uow() as uow:
        session = uow.session.get(m.Session, session_id)
        assert session is not None
        starts_at = session.starts_at
    assert starts_at > datetime.now(UTC)
    return case_id, session_id, starts_at.astimezone(PARIS_TZ)


def test_attendance_before_the_session_is_refused_over_http(client: TestClient, seeded: Seeded) -> None:
    _, session_id, local = _case_on_a_future_session(client, seeded)
    attendance = {p.id: "present" for p in seeded.members(seeded.board(0).id)}
    r = client.post(f"/api/v1/sessions/{session_id}/attendance", json={"attendance": attendance})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "conflit"
    assert r.json()["message"] == (f"La séance du {local:%d/%m/%Y à %H:%M} n'a pas encore commencé : la présence "
                                   "ne peut pas être enregistrée.")
    agenda = client.get(f"/api/v1/sessions/{session_id}").json()  # nothing written
    assert agenda["attendance"] == []
    assert (agenda["session"]["status"], agenda["session"]["quorum"]) == ("planned", "unknown")
    r = client.post(f"/api/v1/sessions/{session_id}/validate")
    assert r.status_code == 409 and "n'a pas encore commencé : elle ne peut pas être validée" in r.json()["message"]
    assert client.get(f"/api/v1/sessions/{session_id}").json()["session"]["status"] == "planned"


def test_decision_before_the_session_is_refused_over_http(client: TestClient, seeded: Seeded) -> None:
    case_id, session_id, local = _case_on_a_future_session(client, seeded)
    decision = {"session_id": session_id, "case_status": "discussed", "proposal_codes": ["387713003"],
                "proposal_text": "Chirurgie première.", "conform_to_referential": True}
    r = client.post(f"/api/v1/cases/{case_id}/decision", json=decision)
    assert r.status_code == 409, r.text
    assert r.json()["message"] == (f"La séance du {local:%d/%m/%Y à %H:%M} n'a pas encore commencé : la décision "
                                   "ne peut pas être enregistrée.")
    case = client.get(f"/api/v1/cases/{case_id}").json()  # nothing written
    assert case["decision"] is None and case["status"] == "assigned"


# ------------------------------------------------------------------------ tumour model (issue 11)


def _board_named(client: TestClient, seeded: Seeded, name: str) -> Any:
    for index in range(len(seeded.board_ids)):
        board = seeded.board(index)
        if board.name == f"RCP {name}":
            return board
    raise AssertionError(name)


def _rows(seeded: Seeded) -> tuple[int, int]:
    from dcc.adapters.db import models as m

    with seeded.database.uow() as uow:
        return uow.session.query(m.Case).count(), uow.session.query(m.Patient).count()


def test_register_case_incompatible_morphology_is_refused_and_nothing_written(client: TestClient,
                                                                              seeded: Seeded) -> None:
    board = _board_named(client, seeded, "Digestif")
    before = _rows(seeded)
    r = client.post("/api/v1/cases", json=case_payload(board.id, _requester(seeded, board.id), topography_code="C18.7",
                                                       laterality=None, morphology_code="8500/3"))
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "morphology_code"
    assert "La morphologie « Adénocarcinome canalaire infiltrant, SAI » (8500/3) n'est pas compatible avec la " \
           "localisation « C18.7 Tumeur maligne du côlon sigmoïde »" in body["message"]
    assert _rows(seeded) == before


def test_register_case_tumour_fields_over_http(client: TestClient, seeded: Seeded) -> None:
    breast = _board_named(client, seeded, "Sein")
    rpps = _requester(seeded, breast.id)
    r = client.post("/api/v1/cases", json=case_payload(breast.id, rpps, laterality=None))
    assert r.status_code == 422 and r.json()["field"] == "laterality" and "organe pair" in r.json()["message"]
    r = client.post("/api/v1/cases", json=case_payload(breast.id, rpps, diagnosis_date="2099-01-01"))
    assert r.status_code == 422 and r.json()["field"] == "diagnosis_date" and "futur" in r.json()["message"]
    r = client.post("/api/v1/cases", json=case_payload(breast.id, rpps, tnm_t="T2", tnm_n="N0", tnm_m="MX",
                                                       tnm_edition=8))
    assert r.status_code == 422 and r.json()["field"] == "tnm_m" and "MX" in r.json()["message"]
    r = client.post("/api/v1/cases", json=case_payload(
        breast.id, rpps, morphology_code="8520/3", tnm_t="pT2", tnm_n="pN1a", tnm_m="cM0", tnm_edition=8,
        tnm_stage="IIB", laterality="droite", diagnosis_date=(TODAY - timedelta(days=30)).isoformat()))
    assert r.status_code == 201, r.text
    case = client.get(f"/api/v1/cases/{r.json()['id']}").json()
    assert (case["tnm_t"], case["tnm_edition"], case["tnm_stage"], case["laterality"], case["diagnosis_date"]) == (
        "pT2", 8, "IIB", "droite", (TODAY - timedelta(days=30)).isoformat())


def test_register_cns_case_refuses_tnm_over_http(client: TestClient, seeded: Seeded) -> None:
    neuro = _board_named(client, seeded, "Recours régional neuro-oncologie")
    rpps = _requester(seeded, neuro.id)
    base = {"topography_code": "C71.9", "laterality": None, "morphology_code": "9440/3"}
    r = client.post("/api/v1/cases", json=case_payload(neuro.id, rpps, first13="2750344109124", **base,
                                                       tnm_t="T2", tnm_n="N1", tnm_m="M0", tnm_edition=8))
    assert r.status_code == 422 and r.json()["field"] == "tnm_t" and "ne s'applique pas" in r.json()["message"]
    r = client.post("/api/v1/cases", json=case_payload(neuro.id, rpps, first13="2750344109124", **base))
    assert r.status_code == 201, r.text


def test_update_tumour_over_http(client: TestClient, seeded: Seeded) -> None:
    breast = _board_named(client, seeded, "Sein")
    case_id = _register(client, seeded, "2750344109125")
    before = client.get(f"/api/v1/cases/{case_id}").json()
    r = client.put(f"/api/v1/cases/{case_id}/tumour", json={"topography_code": "C18.7", "morphology_code": "8500/3"})
    assert r.status_code == 422 and r.json()["field"] == "morphology_code"
    assert "n'est pas compatible avec la localisation « C18.7" in r.json()["message"]
    assert client.get(f"/api/v1/cases/{case_id}").json() == before
    r = client.put(f"/api/v1/cases/{case_id}/tumour", json={
        "topography_code": "C50.9", "laterality": "bilaterale", "tnm_t": "cT2", "tnm_n": "cN1", "tnm_m": "cM0",
        "tnm_edition": 8, "tnm_stage": "IIB"})
    assert r.status_code == 200, r.text
    assert (r.json()["laterality"], r.json()["tnm_stage"], r.json()["board_id"]) == ("bilaterale", "IIB", breast.id)
