"""Meeting mode: the sign-in sheet (members make the quorum, guests never do), one presence at a time with
the quorum recomputed, guests refused outside the meeting, the summaries of the agenda, and a discussed
decision that must carry a proposal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dcc.adapters.db import models as m
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services import boards as svc
from dcc.services import meeting
from dcc.services.schemas import DecisionInput
from tests.services.test_boards import MARCH_11, ONCOLOGIST, discussed, session_on


def _guests(w: Any, session_id: str) -> list[m.MeetingGuest]:
    with w.db.uow() as uow:
        rows = uow.session.query(m.MeetingGuest).filter(m.MeetingGuest.session_id == session_id).all()
        uow.session.expunge_all()
        return rows


def test_guests_never_count_for_the_quorum(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    members = w.members(sein.id)
    s = session_on(w, "Sein", MARCH_11)
    oncologists = [p for p in members if p.specialty_code == ONCOLOGIST]
    others = [p for p in members if p.specialty_code != ONCOLOGIST]
    assert oncologists and others
    # only the oncologists sign in: the board's other required specialties are missing
    for p in oncologists:
        with w.db.uow() as uow:
            status = meeting.set_member_presence(uow, session_id=s.id, professional_id=p.id, mode="present",
                                                 actor="coord")
    assert status == "not_met"
    # a guest surgeon and a resident sign the sheet: still no quorum (guests are not members)
    for name, kind in (("Dr Paul Externe, chirurgien sénologue", "expert"), ("Léa Interne", "resident")):
        with w.db.uow() as uow:
            meeting.add_guest(uow, session_id=s.id, data=meeting.GuestInput(name=name, kind=kind), actor="coord")
    with w.db.uow() as uow:
        assert uow.session.get(m.Session, s.id).quorum == "not_met"
    assert {g.kind for g in _guests(w, s.id)} == {"expert", "resident"}
    # the members come one after the other: the quorum follows each change
    statuses = []
    for p in others:
        with w.db.uow() as uow:
            statuses.append(meeting.set_member_presence(uow, session_id=s.id, professional_id=p.id,
                                                        mode="remote", actor="coord"))
    assert statuses[-1] == "met"
    with w.db.uow() as uow:  # one member leaves: recomputed at once
        assert meeting.set_member_presence(uow, session_id=s.id, professional_id=others[0].id, mode="absent",
                                           actor="coord") == "not_met"
    assert len(w.audit("session.guest_add")) == 2


def test_a_non_member_is_not_on_the_sheet(board_world: Any) -> None:
    w = board_world
    s = session_on(w, "Sein", MARCH_11)
    stranger = next(p for p in w.members(w.board("Thorax").id)
                    if p.id not in {q.id for q in w.members(w.board("Sein").id)})
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        meeting.set_member_presence(uow, session_id=s.id, professional_id=stranger.id, mode="present",
                                    actor="coord")
    assert "inscrivez-le comme invité" in exc.value.message
    with w.db.uow() as uow:
        assert uow.session.query(m.Attendance).filter(m.Attendance.session_id == s.id).count() == 0


def test_guest_refused_before_the_session_starts_and_after_validation(board_world: Any) -> None:
    w = board_world
    s = session_on(w, "Sein", MARCH_11)
    guest = meeting.GuestInput(name="Dr Anne Expert", kind="expert", affiliation="CHU de Nantes")
    with w.db.uow() as uow, pytest.raises(Conflict) as exc:
        meeting.add_guest(uow, session_id=s.id, data=guest, actor="coord", now=s.starts_at - timedelta(minutes=1))
    assert "n'a pas encore commencé" in exc.value.message
    assert _guests(w, s.id) == []
    with w.db.uow() as uow:
        guest_id = meeting.add_guest(uow, session_id=s.id, data=guest, actor="coord")
    with w.db.uow() as uow:
        svc.validate_session(uow, session_id=s.id, today=MARCH_11, confirm=True, actor="coord")
    with w.db.uow() as uow, pytest.raises(Conflict):
        meeting.add_guest(uow, session_id=s.id, data=guest, actor="coord")
    with w.db.uow() as uow, pytest.raises(Conflict):
        meeting.remove_guest(uow, session_id=s.id, guest_id=guest_id, actor="coord")
    assert [g.id for g in _guests(w, s.id)] == [guest_id]


def test_guest_removal_and_unknown_guest(board_world: Any) -> None:
    w = board_world
    s = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:
        guest_id = meeting.add_guest(uow, session_id=s.id, actor="coord",
                                     data=meeting.GuestInput(name="Léa Interne", kind="resident"))
    with w.db.uow() as uow, pytest.raises(NotFound):
        meeting.remove_guest(uow, session_id=s.id, guest_id="inconnu", actor="coord")
    with w.db.uow() as uow:
        meeting.remove_guest(uow, session_id=s.id, guest_id=guest_id, actor="coord")
    assert _guests(w, s.id) == []


@pytest.mark.parametrize("fields", [{"name": "", "kind": "expert"}, {"name": "Dr X", "kind": "patient"},
                                    {"name": "Dr\x07X", "kind": "expert"}, {"name": "A" * 201, "kind": "other"}])
def test_guest_input_is_validated(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        meeting.GuestInput(**fields)


def test_meeting_view_summarises_each_case_in_agenda_order(board_world: Any) -> None:
    w = board_world
    first = w.register("Sein", 1)
    urgent = w.register("Sein", 2, urgent=True, morphology_code=None)
    w.assign()
    s = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=first, data=discussed(s.id), actor="coord")
    with w.db.uow() as uow:
        view = meeting.meeting_view(uow, s.id)
    assert [i.case_id for i in view.agenda.items] == [urgent, first]  # urgent first
    summary = view.summaries[urgent]
    assert summary.topography.startswith("C50.9 — ")
    assert summary.morphology == "non renseigné" and summary.attachments == []
    assert summary.question == "Quelle stratégie thérapeutique proposer en première intention ?"
    assert view.summaries[first].decision_status == "discussed"
    assert view.summaries[first].decision_codes == ["Intervention chirurgicale"]
    assert {p.id for p in view.members} == {p.id for p in w.members(w.board("Sein").id)}
    assert all(p.mode == "" for p in view.members)


def test_a_discussed_decision_needs_a_proposal(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    s = session_on(w, "Sein", MARCH_11)
    with pytest.raises(ValidationError) as exc:
        DecisionInput(session_id=s.id, case_status="discussed", proposal_codes=[], proposal_text="  ")
    assert "doit comporter une proposition" in str(exc.value)
    # codes alone, or text alone, are a proposal
    DecisionInput(session_id=s.id, case_status="discussed", proposal_codes=["C15632"])
    DecisionInput(session_id=s.id, case_status="discussed", proposal_text="Surveillance.")
    with w.db.uow() as uow:
        assert uow.session.query(m.Decision).filter(m.Decision.case_id == cid).count() == 0
