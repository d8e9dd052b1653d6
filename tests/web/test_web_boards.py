"""Boards API: list, create (codes, RRULE, people checked), detail, iCalendar export."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import icalendar
from fastapi.testclient import TestClient

from tests.web.helpers_web import Seeded


def board_payload(seeded: Seeded, **overrides: Any) -> dict[str, Any]:
    board = seeded.board(0)
    members = seeded.members(board.id)
    payload: dict[str, Any] = {
        "establishment_id": seeded.establishment().id,
        "rcp_id": "520199",
        "name": "RCP Gynécologie",
        "kind": "organ",
        "appareil_code": board.appareil_code,
        "organe_code": board.organe_code,
        "recurrence": "FREQ=MONTHLY;BYDAY=1TH,3TH",
        "start_time": "12:30",
        "capacity": 15,
        "place": "Salle 3",
        "video_link": "https://visio.example.invalid/rcp/gyneco",
        "responsible_id": board.responsible_id,
        "coordinator_id": board.coordinator_id,
        "member_ids": [p.id for p in members],
    }
    payload.update(overrides)
    return payload


def test_list_boards(client: TestClient, seeded: Seeded) -> None:
    r = client.get("/api/v1/boards")
    assert r.status_code == 200
    boards = r.json()
    assert {b["id"] for b in boards} == set(seeded.board_ids)
    assert {"organ", "transversal"} <= {b["kind"] for b in boards}


def test_create_board_then_read_it(client: TestClient, seeded: Seeded) -> None:
    payload = board_payload(seeded)
    r = client.post("/api/v1/boards", json=payload)
    assert r.status_code == 201, r.text
    board_id = r.json()["id"]
    assert r.headers["location"] == f"/api/v1/boards/{board_id}"
    detail = client.get(f"/api/v1/boards/{board_id}").json()
    assert detail["rcp_id"] == "520199"
    assert detail["recurrence"] == "FREQ=MONTHLY;BYDAY=1TH,3TH"
    # standard organ board quorum by default: surgeon, medical oncologist, radiotherapist
    assert set(detail["required_specialties"]) == {"chirurgien", "oncologue_medical", "radiotherapeute"}
    assert {m["id"] for m in detail["members"]} == set(payload["member_ids"])
    assert board_id in {b["id"] for b in client.get("/api/v1/boards").json()}


def test_create_transversal_board(client: TestClient, seeded: Seeded) -> None:
    payload = board_payload(seeded, kind="transversal", appareil_code=None, organe_code=None,
                            transversal_code="ORG-129", rcp_id="520198", name="RCP Oncogénétique bis")
    r = client.post("/api/v1/boards", json=payload)
    assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/boards/{r.json()['id']}").json()["required_specialties"] == []


def test_create_board_unknown_organ_code(client: TestClient, seeded: Seeded) -> None:
    r = client.post("/api/v1/boards", json=board_payload(seeded, organe_code="PAS-UN-ORGANE"))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "code_inconnu"
    assert body["field"] == "organe_code"
    assert "PAS-UN-ORGANE" in body["message"] and "JDV_RCP_Organe_CISIS" in body["message"]


def test_create_board_malformed_rrule(client: TestClient, seeded: Seeded) -> None:
    r = client.post("/api/v1/boards", json=board_payload(seeded, recurrence="FREQ=SOMETIMES;BYDAY=TU"))
    assert r.status_code == 422
    assert r.json()["field"] == "recurrence"
    assert "récurrence" in r.json()["message"]
    r = client.post("/api/v1/boards", json=board_payload(seeded, recurrence="tous les mardis"))
    assert r.status_code == 422
    assert r.json()["field"] == "recurrence"


def test_create_board_checks_people_and_establishment(client: TestClient, seeded: Seeded) -> None:
    r = client.post("/api/v1/boards", json=board_payload(seeded, establishment_id="inconnu"))
    assert (r.status_code, r.json()["field"]) == (422, "establishment_id")
    r = client.post("/api/v1/boards", json=board_payload(seeded, responsible_id="inconnu"))
    assert (r.status_code, r.json()["field"]) == (422, "responsible_id")
    r = client.post("/api/v1/boards", json=board_payload(seeded, member_ids=["inconnu"]))
    assert (r.status_code, r.json()["field"]) == (422, "member_ids[0]")
    r = client.post("/api/v1/boards", json=board_payload(seeded, required_specialties=["astrologue"]))
    assert (r.status_code, r.json()["field"]) == (422, "required_specialties[0]")


def test_create_board_input_errors_name_the_field(client: TestClient, seeded: Seeded) -> None:
    payload = board_payload(seeded, start_time="25:00")
    del payload["name"]
    r = client.post("/api/v1/boards", json=payload)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "donnee_invalide"
    fields = {d["field"]: d["message"] for d in body["details"]}
    assert fields["name"] == "Champ « name » : ce champ est obligatoire"
    assert fields["start_time"].startswith("Champ « start_time » : le format attendu")


def test_create_board_duplicate_rcp_id_conflicts(client: TestClient, seeded: Seeded) -> None:
    existing = seeded.board(0).rcp_id
    r = client.post("/api/v1/boards", json=board_payload(seeded, rcp_id=existing))
    assert r.status_code == 409
    assert r.json()["field"] == "rcp_id"


def test_unknown_board_is_404(client: TestClient, seeded: Seeded) -> None:
    for path in ("/api/v1/boards/inconnu", "/api/v1/boards/inconnu/calendar.ics"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json() == {"code": "introuvable", "message": "RCP « inconnu » introuvable."}


def test_calendar_ics_has_the_sessions_in_paris_time(client: TestClient, seeded: Seeded) -> None:
    seeded.plan(weeks=8)
    board = seeded.board(0)  # weekly on Tuesdays 12:30, across the switch to summer time
    sessions = client.get("/api/v1/sessions", params={"board": board.id}).json()
    assert len(sessions) >= 7
    r = client.get(f"/api/v1/boards/{board.id}/calendar.ics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert 'filename="rcp-' in r.headers["content-disposition"]
    assert "DTSTART;TZID=Europe/Paris:" in r.text
    cal = icalendar.Calendar.from_ical(r.content)
    events = [c for c in cal.walk("VEVENT")]
    assert {str(e["UID"]) for e in events} == {f"{s['id']}@dcc" for s in sessions}
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Paris"]
    for event in events:
        start = event.decoded("DTSTART")
        assert str(start.tzinfo) == "Europe/Paris"
        assert (start.hour, start.minute) == (12, 30)  # wall-clock time kept across DST
        assert event.decoded("DTEND") - start == timedelta(minutes=board.duration_min)
    offsets = {event.decoded("DTSTART").utcoffset().total_seconds() / 3600 for event in events}
    assert offsets == {1.0, 2.0}
