"""The coordinator's board operations through the API: cancel or move a session, expected attendance, move a
case to a session (capacity override), force a case not ready. Coordinator of the board only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.web.auth import issue_dev_token
from dcc.web.deps import get_today
from tests.web.helpers_web import TODAY, Seeded, case_payload, web_settings


def _register(client: TestClient, seeded: Seeded, first13: str, *, board_index: int = 0, **overrides: Any) -> str:
    board = seeded.board(board_index)
    payload = case_payload(board.id, seeded.members(board.id)[0].rpps, first13=first13, **overrides)
    r = client.post("/api/v1/cases", json=payload)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _session_of(client: TestClient, case_id: str) -> str | None:
    r = client.get(f"/api/v1/cases/{case_id}")
    assert r.status_code == 200, r.text
    return r.json()["session_id"]  # type: ignore[no-any-return]


def _sessions(client: TestClient, board_id: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/sessions", params={"board": board_id})
    assert r.status_code == 200, r.text
    return list(r.json())


def _actions(seeded: Seeded) -> list[tuple[str, str, dict[str, Any]]]:
    with seeded.database.uow() as uow:
        return [(e.action, e.entity_id, dict(e.detail or {})) for e in repo.audit_events(uow.session)]


def _physician_headers(seeded: Seeded, board_id: str) -> dict[str, str]:
    """A bearer token for the board's responsible physician (may record attendance, not cancel or move)."""
    with seeded.database.uow() as uow:
        board = uow.session.get(m.Board, board_id)
        assert board is not None
        uow.session.add(m.AppUser(login="phys-resp", role="physician", professional_id=board.responsible_id,
                                  display_name="Dr Responsable", active=True))
        uow.commit()
    return {"Authorization": f"Bearer {issue_dev_token('phys-resp', settings=web_settings())}"}


def test_cancel_a_session_moves_its_cases_and_says_where(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    first = _register(client, seeded, "2750344109123")
    urgent = _register(client, seeded, "1680549007456", urgent=True)
    seeded.assign()
    session = _session_of(client, first)
    assert session and _session_of(client, urgent) == session

    r = client.post(f"/api/v1/sessions/{session}/cancel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["session"]["id"] == session and body["session"]["status"] == "cancelled"
    assert body["session"]["cases"] == 0
    moved = {mv["case_id"]: mv for mv in body["moves"]}
    assert set(moved) == {first, urgent}
    assert body["reassigned"] == 2 and body["back_to_pending"] == []
    for case_id, mv in moved.items():
        assert mv["session_id"] and mv["session_id"] != session
        assert "annulée" in mv["reason"]
        assert _session_of(client, case_id) == mv["session_id"]
    assert session not in {s["id"] for s in _sessions(client, board.id) if s["status"] != "cancelled"}
    assert ("session.cancel", session) in [(a, e) for a, e, _ in _actions(seeded)]

    again = client.post(f"/api/v1/sessions/{session}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "conflit" and "annulée" in again.json()["message"]
    assert client.post("/api/v1/sessions/inconnue/cancel").status_code == 404


def test_cancel_a_past_session_is_refused(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    first = _sessions(client, board.id)[0]
    client.app.dependency_overrides[get_today] = lambda: TODAY + timedelta(days=30)  # type: ignore[attr-defined]
    r = client.post(f"/api/v1/sessions/{first['id']}/cancel")
    assert r.status_code == 422
    assert r.json()["field"] == "session_id" and "passée" in r.json()["message"]


def test_move_a_session(client: TestClient, seeded: Seeded) -> None:
    seeded.plan(weeks=8)
    case = _register(client, seeded, "2750344109123", earliest_date=(TODAY + timedelta(days=9)).isoformat())
    seeded.assign()
    session = _session_of(client, case)
    assert session
    url = f"/api/v1/sessions/{session}/move"

    r = client.post(url, json={"starts_at": "2026-01-06T12:30:00"})
    assert r.status_code == 422
    assert r.json()["field"] == "starts_at"
    assert "passé" in r.json()["message"]
    for bad in ("9999-12-31T23:59:59-12:00", "mardi prochain", None):
        r = client.post(url, json={"starts_at": bad})
        assert (r.status_code, r.json()["field"]) == (422, "starts_at"), (bad, r.text)
    assert client.post(url, json={"starts_at": "2026-04-01T12:30:00", "salle": "B"}).status_code == 422

    # one day earlier than planned: still after the case's earliest date, the case stays
    current = datetime.fromisoformat(client.get(f"/api/v1/sessions/{session}").json()["session"]["starts_at"])
    earlier = current - timedelta(days=1)
    r = client.post(url, json={"starts_at": earlier.isoformat()})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["session"]["starts_at"]) == earlier
    assert r.json()["moves"] == [] and _session_of(client, case) == session

    # before the case's earliest date: the case is re-placed on a later session
    r = client.post(url, json={"starts_at": f"{(TODAY + timedelta(days=3)).isoformat()}T08:00:00"})
    assert r.status_code == 200, r.text
    assert r.json()["session"]["starts_at"].startswith((TODAY + timedelta(days=3)).isoformat())
    [mv] = r.json()["moves"]
    assert mv["case_id"] == case and mv["session_id"] not in (None, session)
    assert "déplacée" in mv["reason"]
    assert _session_of(client, case) == mv["session_id"]
    assert "session.move" in [a for a, _, _ in _actions(seeded)]


def test_expected_attendance(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    session = _sessions(client, board.id)[1]["id"]
    members = seeded.members(board.id)
    url = f"/api/v1/sessions/{session}/expected-attendance"
    r = client.post(url, json={"attendance": {"inconnu": "present"}})
    assert (r.status_code, r.json()["field"]) == (422, "attendance")
    r = client.post(url, json={"attendance": {members[0].id: "peut-être"}})
    assert r.status_code == 422 and r.json()["field"] == f"attendance.{members[0].id}"

    r = client.post(url, json={"attendance": {members[0].id: "present", members[1].id: "remote"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["session"]["status"] == "planned"  # still open for assignment
    assert {(a["professional_id"], a["mode"]) for a in body["attendance"]} == {
        (members[0].id, "present"), (members[1].id, "remote")}
    r = client.post(url, json={"attendance": {members[1].id: "absent"}})
    assert {(a["professional_id"], a["mode"]) for a in r.json()["attendance"]} == {
        (members[0].id, "present"), (members[1].id, "absent")}

    held = client.post(f"/api/v1/sessions/{session}/attendance",
                       json={"attendance": {p.id: "present" for p in members}})
    assert held.status_code == 200
    r = client.post(url, json={"attendance": {members[0].id: "present"}})
    assert r.status_code == 409


def _set_capacity(seeded: Seeded, session_id: str, capacity: int) -> None:
    with seeded.database.uow() as uow:
        session = uow.session.get(m.Session, session_id)
        assert session is not None
        session.capacity = capacity
        uow.commit()


def test_move_a_case_capacity_needs_the_coordinators_override(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    first = _register(client, seeded, "2750344109123")
    second = _register(client, seeded, "1680549007456")
    seeded.assign()
    target = _session_of(client, first)
    assert target
    _set_capacity(seeded, target, 1)
    other = next(s["id"] for s in _sessions(client, board.id)
                 if s["id"] != target and s["registration_deadline"] >= TODAY.isoformat())
    r = client.post(f"/api/v1/cases/{second}/move", json={"session_id": other})
    assert r.status_code == 200, r.text
    assert r.json()["from_session_id"] == target and r.json()["overrides"] == []

    url = f"/api/v1/cases/{second}/move"
    r = client.post(url, json={"session_id": target})
    assert r.status_code == 422
    assert r.json()["field"] == "capacity"
    assert "capacité" in r.json()["message"] and "coordinateur" in r.json()["message"]
    assert _session_of(client, second) == other

    r = client.post(url, json={"session_id": target, "force": True})
    assert r.status_code == 200, r.text
    assert r.json()["session_id"] == target and r.json()["overrides"] == ["capacity"]
    assert "forcée" in r.json()["reason"]
    assert _session_of(client, second) == target
    forced = [d for a, e, d in _actions(seeded) if a == "case.move_forced" and e == second]
    assert forced and forced[0]["overrides"] == ["capacity"] and forced[0]["capacity"] == 1

    other_board = seeded.board(1)
    foreign = _sessions(client, other_board.id)[-1]["id"]
    r = client.post(url, json={"session_id": foreign, "force": True})
    assert (r.status_code, r.json()["field"]) == (422, "session_id")
    r = client.post(url, json={"session_id": "inconnue"})
    assert (r.status_code, r.json()["field"]) == (422, "session_id")
    r = client.post(url, json={"session_id": ""})
    assert (r.status_code, r.json()["field"]) == (422, "session_id")
    r = client.post(url, json={"force": True})
    assert (r.status_code, r.json()["field"]) == (422, "session_id")
    assert client.post("/api/v1/cases/inconnu/move", json={"session_id": target}).status_code == 404


def test_force_a_case_not_ready(client: TestClient, seeded: Seeded) -> None:
    seeded.plan(weeks=8)
    case = _register(client, seeded, "2750344109123", pathology_report=False)
    assert seeded.assign().not_ready == 1
    r = client.post(f"/api/v1/cases/{case}/force")
    assert r.status_code == 200, r.text
    assert r.json() == {"case_id": case, "forced": ["compte rendu anatomopathologique"], "status": "pending",
                        "not_ready": []}
    forced = [d for a, e, d in _actions(seeded) if a == "case.force_not_ready" and e == case]
    assert forced == [{"missing": ["compte rendu anatomopathologique"]}]
    assert client.post(f"/api/v1/cases/{case}/force").json()["forced"] == []  # nothing left to force
    assert seeded.assign().assigned == 1
    assert client.post("/api/v1/cases/inconnu/force").status_code == 404


def test_only_the_coordinator_operates_the_board(client: TestClient, seeded: Seeded) -> None:
    board = seeded.board(0)
    seeded.plan(weeks=8)
    case = _register(client, seeded, "2750344109123")
    seeded.assign()
    session = _session_of(client, case)
    headers = _physician_headers(seeded, board.id)
    # the responsible physician records attendance (not an error of rights) but may not operate the board
    for url, body in ((f"/api/v1/sessions/{session}/cancel", None),
                      (f"/api/v1/sessions/{session}/move", {"starts_at": "2026-04-30T12:30:00"}),
                      (f"/api/v1/sessions/{session}/expected-attendance", {"attendance": {}}),
                      (f"/api/v1/cases/{case}/move", {"session_id": session, "force": True}),
                      (f"/api/v1/cases/{case}/force", None)):
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 403, (url, r.text)
        assert r.json()["code"] == "interdit" and "coordinateur" in r.json()["message"]
    assert _session_of(client, case) == session
    assert client.get(f"/api/v1/sessions/{session}").json()["session"]["status"] == "planned"


def test_new_operations_document_their_errors(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {"/api/v1/sessions/{session_id}/cancel": {"401", "403", "404", "409", "422"},
                "/api/v1/sessions/{session_id}/move": {"401", "403", "404", "409", "413", "422"},
                "/api/v1/sessions/{session_id}/expected-attendance": {"401", "403", "404", "409", "413", "422"},
                "/api/v1/cases/{case_id}/move": {"401", "403", "404", "409", "413", "422"},
                "/api/v1/cases/{case_id}/force": {"401", "403", "404", "409"}}
    for path, codes in expected.items():
        responses = paths[path]["post"]["responses"]
        assert codes <= set(responses), (path, set(responses))
        for code in codes:
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"}, (path, code)
