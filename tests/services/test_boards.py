"""Board services on SQLite and PostgreSQL: planning, assignment, cancellation and moves, quorum, decisions.

The `board_world` fixture (tests/services/conftest.py) seeds one region (every board kind) and plans six
weeks from Monday 3 March 2025. The Sein board meets on Tuesdays at 12:30 with a registration deadline of
2 working days: the 4 March session is already closed, so the first open one is 11 March.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dcc.adapters.db import models as m
from dcc.domain.calendar import PARIS
from dcc.errors import Conflict, ValidationFailed
from dcc.services import boards as svc
from dcc.services.schemas import AttendanceInput, DecisionInput

MARCH_11, MARCH_18, MARCH_25 = date(2025, 3, 11), date(2025, 3, 18), date(2025, 3, 25)
THORACIC_SURGEON = "G15_10/SM11"
GYNAECOLOGIC_SURGEON = "G15_10/SM20"
ONCOLOGIST = "G15_10/SM36"


def day(s: m.Session) -> date:
    return s.starts_at.astimezone(PARIS).date()


def session_on(world: Any, board_name: str, when: date) -> m.Session:
    board = world.board(board_name)
    return next(s for s in world.sessions(board.id) if day(s) == when)


def session_day_of_case(world: Any, case_id: str) -> date | None:
    case = world.case(case_id)
    if case.session_id is None:
        return None
    with world.db.uow() as uow:
        s = uow.session.get(m.Session, case.session_id)
        assert s is not None
        return day(s)


def discussed(session_id: str) -> DecisionInput:
    return DecisionInput(session_id=session_id, case_status="discussed", proposal_codes=["387713003"],
                         proposal_text="Chirurgie première.", conform_to_referential=True)


# ------------------------------------------------------------------------------------------- planning


def test_plan_sessions_is_idempotent(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    before = [(s.id, s.starts_at) for s in w.sessions(sein.id)]
    assert before
    with w.db.uow() as uow:
        assert svc.plan_sessions(uow, today=w.today, horizon_weeks=6) == 0
    assert [(s.id, s.starts_at) for s in w.sessions(sein.id)] == before
    with w.db.uow() as uow:  # a longer horizon adds only the new weeks
        assert svc.plan_sessions(uow, today=w.today, horizon_weeks=8) > 0
    with w.db.uow() as uow:
        assert svc.plan_sessions(uow, today=w.today, horizon_weeks=8) == 0
    after = w.sessions(sein.id)
    assert [(s.id, s.starts_at) for s in after[: len(before)]] == before  # existing sessions kept as they were
    assert len({day(s) for s in after}) == len(after) > len(before)


def test_plan_sessions_rejects_a_silly_horizon(board_world: Any) -> None:
    with board_world.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.plan_sessions(uow, today=board_world.today, horizon_weeks=0)
    assert exc.value.field == "horizon_weeks" and exc.value.status_code == 422


def test_plan_sessions_skips_public_holidays(make_world: Any) -> None:
    w = make_world(today=date(2025, 4, 14), weeks=3)
    mondays = [day(s) for s in w.sessions(w.board("Urologie").id)]
    assert mondays == [date(2025, 4, 14), date(2025, 4, 28), date(2025, 5, 5)]  # Lundi de Pâques skipped
    thursdays = [day(s) for s in w.sessions(w.board("Digestif").id)]
    assert thursdays == [date(2025, 4, 17), date(2025, 4, 24)]  # 1 May skipped
    assert {s.starts_at.astimezone(PARIS).strftime("%H:%M") for s in w.sessions(w.board("Urologie").id)} == {
        "13:00"}


def test_plan_sessions_skips_alsace_moselle_holidays_only_there(make_world: Any) -> None:
    # Region A (Pays de la Loire) is not in Alsace-Moselle; region B (Grand Est) is: 26 December is a holiday.
    w = make_world(today=date(2028, 12, 18), regions=2, weeks=2)
    sein_a, sein_b = w.board_in_region("Sein", "A"), w.board_in_region("Sein", "B")
    assert [day(s) for s in w.sessions(sein_a.id)] == [date(2028, 12, 19), date(2028, 12, 26)]
    assert [day(s) for s in w.sessions(sein_b.id)] == [date(2028, 12, 19)]
    # Registration deadlines count working days of the region: 2 before Thursday 28 December.
    dig_a, dig_b = w.board_in_region("Digestif", "A"), w.board_in_region("Digestif", "B")
    deadline_a = {day(s): s.registration_deadline for s in w.sessions(dig_a.id)}
    deadline_b = {day(s): s.registration_deadline for s in w.sessions(dig_b.id)}
    assert deadline_a[date(2028, 12, 28)] == date(2028, 12, 26)
    assert deadline_b[date(2028, 12, 28)] == date(2028, 12, 22)


# ----------------------------------------------------------------------------------------- assignment


def test_assignment_respects_capacity_and_registration_deadline(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    w.set_capacity([s.id for s in w.sessions(sein.id)], 2)
    ids = [w.register("Sein", n) for n in range(5)]
    summary = w.assign()
    assert summary.assigned == 5 and summary.unassigned == 0
    days = sorted(session_day_of_case(w, cid) for cid in ids)  # type: ignore[type-var]
    assert days == [MARCH_11, MARCH_11, MARCH_18, MARCH_18, MARCH_25]  # 4 March: registration closed
    for cid in ids:
        case = w.case(cid)
        assert case.status == "assigned" and case.registration_number
        assert case.assignment_reason.startswith("Séance du ")
    assert any("étaient complètes" in w.case(c).assignment_reason for c in ids)


def test_assignment_after_the_registration_deadline_takes_the_next_session(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, earliest_date=date(2025, 3, 10))
    with w.db.uow() as uow:  # on Monday 10 March, the 11 March session closed on Friday 7 March
        svc.assign_cases(uow, today=date(2025, 3, 10))
    assert session_day_of_case(w, cid) == MARCH_18


def test_assignment_respects_the_earliest_date(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, earliest_date=date(2025, 3, 20))
    w.assign()
    assert session_day_of_case(w, cid) == MARCH_25


def test_urgent_case_goes_first_and_within_its_deadline(board_world: Any) -> None:
    w = board_world
    w.set_capacity([s.id for s in w.sessions(w.board("Sein").id)], 1)
    normal = w.register("Sein", 1)
    urgent = w.register("Sein", 2, urgent=True)
    w.assign()
    assert session_day_of_case(w, urgent) == MARCH_11
    assert session_day_of_case(w, normal) == MARCH_18


def test_urgent_case_without_a_session_in_time_goes_to_the_first_session_with_a_warning(board_world: Any) -> None:
    w = board_world
    urgent = w.register("Sein", 2, urgent=True)
    summary = w.assign(urgent_working_days=3)  # by Thursday 6 March: no open session
    assert summary.assigned == 1 and summary.unassigned == 0
    case = w.case(urgent)
    assert case.status == "assigned"
    assert "aucune séance avant la date limite d'urgence" in case.assignment_reason
    assert session_day_of_case(w, urgent) == MARCH_11  # the first possible session, not left waiting


def test_urgent_case_within_its_deadline_has_no_warning(board_world: Any) -> None:
    w = board_world
    urgent = w.register("Sein", 2, urgent=True)
    assert w.assign().assigned == 1  # default: 10 working days
    assert session_day_of_case(w, urgent) == MARCH_11
    assert "date limite d'urgence" not in w.case(urgent).assignment_reason


def test_case_needing_a_specialist_goes_where_one_is_confirmed(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    members = w.members(sein.id)
    thoracic = w.professional(THORACIC_SURGEON)
    first, second = session_on(w, "Sein", MARCH_11), session_on(w, "Sein", MARCH_18)
    with w.db.uow() as uow:  # 11 March: the gynaecologic surgeon (a member) sends apologies
        svc.confirm_attendance(uow, session_id=first.id, actor="coord", data=AttendanceInput(attendance={
            p.id: "absent" if p.specialty_code == GYNAECOLOGIC_SURGEON else "present" for p in members}))
    with w.db.uow() as uow:  # 18 March: every member, and a thoracic surgeon invited
        svc.confirm_attendance(uow, session_id=second.id, actor="coord", data=AttendanceInput(
            attendance={**{p.id: "present" for p in members}, thoracic.id: "remote"}))
    needs_gyn = w.register("Sein", 1, required_specialties=[GYNAECOLOGIC_SURGEON])
    needs_thoracic = w.register("Sein", 2, required_specialties=[THORACIC_SURGEON])
    plain = w.register("Sein", 3)
    needs_nobody_there = w.register("Sein", 4, required_specialties=["G15_10/SM18"])  # geriatrician
    summary = w.assign()
    assert summary.assigned == 3 and summary.unassigned == 1
    assert session_day_of_case(w, plain) == MARCH_11
    assert session_day_of_case(w, needs_gyn) == MARCH_18
    assert session_day_of_case(w, needs_thoracic) == MARCH_18
    assert "chirurgien thoracique confirmé" in w.case(needs_thoracic).assignment_reason
    assert session_day_of_case(w, needs_nobody_there) is None
    assert "spécialistes requis" in w.case(needs_nobody_there).assignment_reason
    assert first.status == "planned"  # confirmations keep the session open


def test_case_needing_a_member_specialty_uses_the_member_list_without_confirmations(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1, required_specialties=[GYNAECOLOGIC_SURGEON])
    w.assign()
    assert session_day_of_case(w, cid) == MARCH_11


# --------------------------------------------------------------------------------------- cancellation


def test_cancelled_session_cases_move_to_the_next_session_keeping_priority(board_world: Any) -> None:
    w = board_world
    w.set_capacity([session_on(w, "Sein", MARCH_18).id], 2)
    booked = w.register("Sein", 1, earliest_date=date(2025, 3, 12))  # takes one place on 18 March
    normal = w.register("Sein", 2)
    urgent = w.register("Sein", 3, urgent=True)
    w.assign()
    assert [session_day_of_case(w, c) for c in (booked, normal, urgent)] == [MARCH_18, MARCH_11, MARCH_11]
    cancelled = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:
        out = svc.cancel_session(uow, session_id=cancelled.id, today=w.today, actor="coord")
    assert set(out.moves) == {normal, urgent} and out.reassigned == 2 and out.back_to_pending == []
    assert session_day_of_case(w, urgent) == MARCH_18  # the one free place goes to the urgent case
    assert session_day_of_case(w, normal) == MARCH_25
    assert session_day_of_case(w, booked) == MARCH_18  # already booked cases stay
    assert out.moves[urgent].session_id == session_on(w, "Sein", MARCH_18).id
    for cid in (normal, urgent):
        case = w.case(cid)
        assert case.status == "assigned"
        assert case.assignment_reason.startswith("Séance du 11/03/2025 annulée.")
        assert out.moves[cid].reason == case.assignment_reason
    assert w.case(urgent).urgent is True
    assert session_on(w, "Sein", MARCH_11).status == "cancelled"
    [event] = w.audit("session.cancel")
    assert event.actor == "coord" and set(event.detail["moves"]) == {normal, urgent}
    assert len(w.audit("case.reassign")) == 2
    with w.db.uow() as uow:  # the cancelled occurrence is an exception: planning does not recreate it
        assert svc.plan_sessions(uow, today=w.today, horizon_weeks=6) == 0
    with w.db.uow() as uow, pytest.raises(Conflict):
        svc.cancel_session(uow, session_id=cancelled.id, today=w.today, actor="coord")


def test_cancelled_session_case_without_room_goes_back_to_pending(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    first = session_on(w, "Sein", MARCH_11)
    w.set_capacity([s.id for s in w.sessions(w.board("Sein").id) if s.id != first.id], 0)
    with w.db.uow() as uow:
        out = svc.cancel_session(uow, session_id=first.id, today=w.today, actor="coord")
    assert out.back_to_pending == [cid] and out.moves[cid].session_id is None
    case = w.case(cid)
    assert case.status == "pending" and case.session_id is None
    assert case.assignment_reason.startswith("Séance du 11/03/2025 annulée.")
    assert "Non affecté" in case.assignment_reason


def test_cancelling_a_past_session_is_refused(board_world: Any) -> None:
    w = board_world
    first = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.cancel_session(uow, session_id=first.id, today=date(2025, 3, 12), actor="coord")
    assert exc.value.field == "session_id" and "passée" in exc.value.message


# ----------------------------------------------------------------------------------- moving a session


def test_move_session_recomputes_the_deadline_and_replaces_cases_that_no_longer_fit(board_world: Any) -> None:
    w = board_world
    early = w.register("Sein", 1)
    later = w.register("Sein", 2, earliest_date=date(2025, 3, 17))
    w.assign()
    target = session_on(w, "Sein", MARCH_25)
    assert session_day_of_case(w, later) == MARCH_18 and session_day_of_case(w, early) == MARCH_11
    moved = session_on(w, "Sein", MARCH_18)
    with w.db.uow() as uow:  # 18 March moved to Friday 14 March, 14:00 (naive: Europe/Paris)
        out = svc.move_session(uow, session_id=moved.id, new_start=datetime(2025, 3, 14, 14, 0), today=w.today,
                               actor="coord")
    after = w.sessions(w.board("Sein").id)
    s = next(x for x in after if x.id == moved.id)
    assert s.starts_at.astimezone(PARIS) == datetime(2025, 3, 14, 14, 0, tzinfo=PARIS)
    assert s.registration_deadline == date(2025, 3, 12) == out.registration_deadline
    assert out.moves[later].session_id == target.id  # its earliest date (17 March) is after the new date
    assert "Séance déplacée au 14/03/2025" in w.case(later).assignment_reason
    assert len(w.audit("session.move")) == 1


def test_move_session_into_the_past_is_refused(board_world: Any) -> None:
    w = board_world
    s = session_on(w, "Sein", MARCH_18)
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.move_session(uow, session_id=s.id, new_start=datetime(2025, 3, 1, 12, 30, tzinfo=PARIS),
                         today=w.today, actor="coord")
    assert exc.value.status_code == 422 and exc.value.field == "starts_at"
    assert "passé" in exc.value.message
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:  # onto another session of the board
        svc.move_session(uow, session_id=s.id, new_start=datetime(2025, 3, 25, 12, 30), today=w.today,
                         actor="coord")
    assert exc.value.field == "starts_at"


# -------------------------------------------------------------------------------------- moving a case


def test_move_case_refusals_name_the_field(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    past = session_on(w, "Sein", MARCH_11)
    other_board = w.sessions(w.board("Digestif").id)[-1]
    cancelled = session_on(w, "Sein", MARCH_25)
    with w.db.uow() as uow:
        svc.cancel_session(uow, session_id=cancelled.id, today=w.today, actor="coord")
    cases = [
        (past.id, date(2025, 3, 12), "passée"),
        (other_board.id, w.today, "autre RCP"),
        (cancelled.id, w.today, "annulée"),
        ("nope", w.today, "n'existe pas"),
    ]
    for session_id, today, words in cases:
        with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
            svc.move_case(uow, case_id=cid, session_id=session_id, today=today, actor="coord")
        assert exc.value.status_code == 422 and exc.value.field == "session_id", (words, exc.value.message)
        assert words in exc.value.message


def test_move_case_beyond_capacity_needs_the_coordinators_override(board_world: Any) -> None:
    w = board_world
    full = session_on(w, "Sein", MARCH_18)
    w.set_capacity([full.id], 1)
    first = w.register("Sein", 1, earliest_date=date(2025, 3, 12))
    second = w.register("Sein", 2)
    w.assign()
    assert session_day_of_case(w, first) == MARCH_18 and session_day_of_case(w, second) == MARCH_11
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.move_case(uow, case_id=second, session_id=full.id, today=w.today, actor="coord")
    assert exc.value.status_code == 422 and exc.value.field == "capacity"
    assert "capacité" in exc.value.message and "1/1" in exc.value.message
    assert session_day_of_case(w, second) == MARCH_11
    with w.db.uow() as uow:
        out = svc.move_case(uow, case_id=second, session_id=full.id, today=w.today, force=True, actor="coord")
    assert out.overrides == ["capacity"] and out.from_session_id == session_on(w, "Sein", MARCH_11).id
    assert session_day_of_case(w, second) == MARCH_18
    assert "forcée" in w.case(second).assignment_reason
    [event] = w.audit("case.move_forced")
    assert event.actor == "coord" and event.entity_id == second
    assert event.detail["overrides"] == ["capacity"] and event.detail["capacity"] == 1
    assert event.patient_id == w.case(second).patient_id


def test_move_case_within_capacity_is_a_plain_audited_move(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    target = session_on(w, "Sein", MARCH_25)
    with w.db.uow() as uow:
        out = svc.move_case(uow, case_id=cid, session_id=target.id, today=w.today, actor="coord")
    assert out.overrides == [] and session_day_of_case(w, cid) == MARCH_25
    assert len(w.audit("case.move")) == 1 and w.audit("case.move_forced") == []


# ------------------------------------------------------------------------------ attendance and quorum


def test_quorum_is_computed_when_attendance_is_recorded(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    members = w.members(sein.id)
    met, not_met = session_on(w, "Sein", MARCH_11), session_on(w, "Sein", MARCH_18)
    with w.db.uow() as uow:
        status = svc.record_attendance(uow, session_id=met.id, actor="coord", data=AttendanceInput(
            attendance={p.id: ("remote" if i % 2 else "present") for i, p in enumerate(members)}))
    assert status == "met"
    with w.db.uow() as uow:
        status = svc.record_attendance(uow, session_id=not_met.id, actor="coord", data=AttendanceInput(
            attendance={p.id: "present" if p.specialty_code == ONCOLOGIST else "absent" for p in members}))
    assert status == "not_met"
    s_met, s_not = session_on(w, "Sein", MARCH_11), session_on(w, "Sein", MARCH_18)
    assert (s_met.quorum, s_met.status) == ("met", "held")
    assert s_not.quorum == "not_met" and s_not.quorum_detail


def test_attendance_of_an_unknown_professional_is_refused(board_world: Any) -> None:
    w = board_world
    s = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.record_attendance(uow, session_id=s.id, data=AttendanceInput(attendance={"inconnu": "present"}))
    assert exc.value.field == "attendance"


def test_without_quorum_cases_are_represented_and_reassigned_at_once(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    members = w.members(sein.id)
    w.set_capacity([session_on(w, "Sein", MARCH_18).id], 1)
    normal = w.register("Sein", 1)
    urgent = w.register("Sein", 2, urgent=True)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    assert {session_day_of_case(w, c) for c in (normal, urgent)} == {MARCH_11}
    with w.db.uow() as uow:
        assert svc.record_attendance(uow, session_id=meeting.id, actor="coord", data=AttendanceInput(
            attendance={p.id: "present" if p.specialty_code == ONCOLOGIST else "absent" for p in members}
        )) == "not_met"
    for cid in (normal, urgent):
        with w.db.uow() as uow:
            svc.record_decision(uow, case_id=cid, data=discussed(meeting.id), actor="coord")
    with w.db.uow() as uow:
        out = svc.validate_session(uow, session_id=meeting.id, today=MARCH_11, actor="coord")
    # no quorum: no decision of the session goes on to a Fiche RCP; both cases are re-presented
    assert out.case_ids == [] and len(out.represented) == 2
    assert set(out.moves) == set(out.represented)
    copies = {w.case(c).urgent: w.case(c) for c in out.represented}
    assert copies[True].status == copies[False].status == "assigned"
    assert session_day_of_case(w, copies[True].id) == MARCH_18  # priority kept: the urgent copy first
    assert session_day_of_case(w, copies[False].id) == MARCH_25
    for copy in copies.values():
        assert copy.assignment_reason.startswith("Représenté : quorum non atteint à la séance du 11/03/2025.")
        assert copy.earliest_date == date(2025, 3, 12)
    # old and new entries are linked; the old one is closed as re-presented, on its session
    assert {copies[True].represented_from_id, copies[False].represented_from_id} == {normal, urgent}
    assert out.represented_from == {c.id: c.represented_from_id for c in copies.values()}
    assert w.case(normal).status == "represented" and w.case(normal).session_id == meeting.id
    assert w.case(urgent).status == "represented"
    assert copies[True].question == w.case(urgent).question and copies[True].patient_id == w.case(urgent).patient_id
    assert len(w.audit("case.represent")) == 2
    with w.db.uow() as uow:
        assert all(d.locked and d.quorum == "not_met"
                   for d in uow.session.query(m.Decision).filter(m.Decision.case_id.in_([normal, urgent])))


def test_with_quorum_nothing_is_represented(board_world: Any) -> None:
    w = board_world
    members = w.members(w.board("Sein").id)
    cid = w.register("Sein", 1)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:
        svc.record_attendance(uow, session_id=meeting.id, data=AttendanceInput(
            attendance={p.id: "present" for p in members}))
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=cid, data=discussed(meeting.id))
    with w.db.uow() as uow:
        out = svc.validate_session(uow, session_id=meeting.id, today=MARCH_11)
    assert out.case_ids == [cid] and out.represented == [] and out.moves == {}


def _not_quorate(w: Any, session: m.Session) -> None:
    members = w.members(w.board("Sein").id)
    with w.db.uow() as uow:
        assert svc.record_attendance(uow, session_id=session.id, actor="coord", data=AttendanceInput(
            attendance={p.id: "present" if p.specialty_code == ONCOLOGIST else "absent" for p in members}
        )) == "not_met"


def test_without_quorum_a_registered_standard_case_is_re_presented_too(board_world: Any) -> None:
    """INCa: a valid RCP needs its quorum; a standard case is ratified by the RCP, which a non-quorate
    meeting cannot do: it is re-presented like a discussed one (and may be registered there)."""
    w = board_world
    cid = w.register("Sein", 1, standard=True, referential_name="Référentiel régional sein",
                     referential_version="2024", referential_date=date(2024, 6, 1))
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    _not_quorate(w, meeting)
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=cid, actor="coord", data=DecisionInput(
            session_id=meeting.id, case_status="registered", proposal_codes=["387713003"],
            proposal_text="Tumorectomie selon le référentiel.", conform_to_referential=True))
    with w.db.uow() as uow:
        out = svc.validate_session(uow, session_id=meeting.id, today=MARCH_11)
    assert out.case_ids == [] and len(out.represented) == 1
    again = w.case(out.represented[0])
    assert again.represented_from_id == cid and again.standard and again.referential_name == "Référentiel régional sein"
    assert w.case(cid).status == "represented"
    assert session_day_of_case(w, again.id) == MARCH_18


def test_a_session_validated_without_any_attendance_has_no_quorum(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:  # a decision, but nobody's attendance recorded
        svc.record_decision(uow, case_id=cid, data=discussed(meeting.id))
    with w.db.uow() as uow:
        out = svc.validate_session(uow, session_id=meeting.id, today=MARCH_11)
    assert out.case_ids == [] and len(out.represented) == 1
    s = session_on(w, "Sein", MARCH_11)
    assert (s.status, s.quorum) == ("validated", "not_met")
    assert s.quorum_detail == ["aucune présence enregistrée à la séance"]
    assert w.case(cid).status == "represented"


def test_validation_with_undecided_cases_needs_confirmation_and_writes_nothing(board_world: Any) -> None:
    w = board_world
    members = w.members(w.board("Sein").id)
    decided, undecided = w.register("Sein", 1), w.register("Sein", 2)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:
        svc.record_attendance(uow, session_id=meeting.id, data=AttendanceInput(
            attendance={p.id: "present" for p in members}))
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=decided, data=discussed(meeting.id))
    audit_before = len(w.audit("session.validate")) + len(w.audit("case.reassign"))
    with w.db.uow() as uow, pytest.raises(Conflict) as exc:
        svc.validate_session(uow, session_id=meeting.id, today=MARCH_11, actor="coord")
    assert exc.value.status_code == 409
    assert "n'ont pas de décision" in exc.value.message and "MARTIN" in exc.value.message
    assert exc.value.to_dict()["case_ids"] == [undecided]
    assert session_on(w, "Sein", MARCH_11).status == "held"
    assert w.case(undecided).status == "assigned" and w.case(undecided).session_id == meeting.id
    with w.db.uow() as uow:
        assert not uow.session.get(m.Decision, svc_decision_id(uow, decided)).locked
    assert len(w.audit("session.validate")) + len(w.audit("case.reassign")) == audit_before

    with w.db.uow() as uow:
        out = svc.validate_session(uow, session_id=meeting.id, today=MARCH_11, confirm=True, actor="coord")
    assert out.case_ids == [decided] and out.represented == []
    assert list(out.not_discussed) == [undecided]
    back = w.case(undecided)
    assert back.status == "assigned" and session_day_of_case(w, undecided) == MARCH_18
    assert back.assignment_reason.startswith("Non discuté à la séance du 11/03/2025.")
    assert [e.entity_id for e in w.audit("case.not_discussed")] == [undecided]
    assert session_on(w, "Sein", MARCH_11).status == "validated"


def test_undecided_cases_without_a_later_session_go_back_to_pending(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    later = [s.id for s in w.sessions(w.board("Sein").id) if day(s) > MARCH_11]
    w.set_capacity(later, 0)
    with w.db.uow() as uow:
        out = svc.validate_session(uow, session_id=meeting.id, today=MARCH_11, confirm=True, actor="coord")
    assert out.not_discussed[cid].session_id is None
    case = w.case(cid)
    assert case.status == "pending" and case.session_id is None
    assert case.assignment_reason.startswith("Non discuté à la séance du 11/03/2025.")


def svc_decision_id(uow: Any, case_id: str) -> str:
    return uow.session.query(m.Decision).filter(m.Decision.case_id == case_id).one().id


# ------------------------------------------------------------------------------------------ decisions


def test_decision_on_a_case_of_another_session_is_refused(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    other = session_on(w, "Sein", MARCH_18)
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.record_decision(uow, case_id=cid, data=discussed(other.id))
    assert exc.value.status_code == 422 and exc.value.field == "session_id"
    assert "n'est pas inscrit à cette séance" in exc.value.message


# ------------------------------------------------------------------------- time runs forward (Paris clock)

TZ = ZoneInfo("Europe/Paris")  # the clock people read; the Sein board meets on Tuesdays at 12:30 (Paris)
BEFORE_MARCH_11 = datetime(2025, 3, 11, 12, 29, 59, tzinfo=TZ)  # one second before the 11 March session
AT_MARCH_11 = datetime(2025, 3, 11, 11, 30, tzinfo=UTC)  # 12:30 in Paris (winter time, UTC+1)


def _counts(w: Any, session_id: str, case_id: str | None = None) -> tuple[Any, ...]:
    with w.db.uow() as uow:
        s = uow.session.get(m.Session, session_id)
        assert s is not None
        rows = uow.session.query(m.Attendance).filter_by(session_id=session_id).count()
        decisions = uow.session.query(m.Decision).filter_by(session_id=session_id).count()
        case = uow.session.get(m.Case, case_id) if case_id else None
        return s.status, s.quorum, rows, decisions, case.status if case else None


def test_attendance_before_the_session_starts_is_refused_and_writes_nothing(board_world: Any) -> None:
    w = board_world
    members = w.members(w.board("Sein").id)
    meeting = session_on(w, "Sein", MARCH_11)
    attendance = AttendanceInput(attendance={p.id: "present" for p in members})
    before = _counts(w, meeting.id)
    with w.db.uow() as uow, pytest.raises(Conflict) as exc:
        svc.record_attendance(uow, session_id=meeting.id, data=attendance, actor="coord", now=BEFORE_MARCH_11)
    assert exc.value.status_code == 409
    assert exc.value.message == ("La séance du 11/03/2025 à 12:30 n'a pas encore commencé : la présence ne "
                                 "peut pas être enregistrée.")
    assert _counts(w, meeting.id) == before == ("planned", "unknown", 0, 0, None)
    assert w.audit("session.attendance") == []
    with w.db.uow() as uow:  # from the start of the session on, the same input is accepted
        assert svc.record_attendance(uow, session_id=meeting.id, data=attendance, actor="coord",
                                     now=AT_MARCH_11) == "met"
    assert _counts(w, meeting.id)[:3] == ("held", "met", len(members))


def test_expected_attendance_stays_allowed_before_the_session(board_world: Any) -> None:
    w = board_world
    members = w.members(w.board("Sein").id)
    meeting = session_on(w, "Sein", MARCH_25)
    with w.db.uow() as uow:  # confirm_attendance takes no clock: it is meant for before the session
        assert svc.confirm_attendance(uow, session_id=meeting.id, data=AttendanceInput(
            attendance={p.id: "present" for p in members})) == len(members)
    assert _counts(w, meeting.id)[:3] == ("planned", "unknown", len(members))


def test_decision_before_the_session_starts_is_refused_and_writes_nothing(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    assert session_day_of_case(w, cid) == MARCH_11
    with w.db.uow() as uow, pytest.raises(Conflict) as exc:
        svc.record_decision(uow, case_id=cid, data=discussed(meeting.id), actor="coord", now=BEFORE_MARCH_11)
    assert exc.value.message == ("La séance du 11/03/2025 à 12:30 n'a pas encore commencé : la décision ne "
                                 "peut pas être enregistrée.")
    assert _counts(w, meeting.id, cid) == ("planned", "unknown", 0, 0, "assigned")
    assert w.audit("decision.record") == []
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=cid, data=discussed(meeting.id), actor="coord", now=AT_MARCH_11)
    assert _counts(w, meeting.id, cid)[3:] == (1, "decided")


def test_validation_before_the_session_starts_is_refused_and_writes_nothing(board_world: Any) -> None:
    w = board_world
    meeting = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow, pytest.raises(Conflict) as exc:
        svc.validate_session(uow, session_id=meeting.id, today=MARCH_11, actor="coord", now=BEFORE_MARCH_11)
    assert exc.value.message == ("La séance du 11/03/2025 à 12:30 n'a pas encore commencé : elle ne peut pas "
                                 "être validée.")
    assert _counts(w, meeting.id)[0] == "planned" and w.audit("session.validate") == []


def test_the_default_clock_is_the_real_time(make_world: Any) -> None:
    """Without `now` the services read the real clock: a session planned ahead of today is refused, in
    French with its Paris time; a session of the past is held."""
    today = datetime.now(TZ).date()
    w = make_world(today=today, weeks=3)
    members = w.members(w.board("Sein").id)
    ahead = next(s for s in w.sessions(w.board("Sein").id) if s.starts_at > datetime.now(UTC) + timedelta(hours=1))
    local = ahead.starts_at.astimezone(TZ)
    assert local.strftime("%H:%M") == "12:30"
    with w.db.uow() as uow, pytest.raises(Conflict) as exc:
        svc.record_attendance(uow, session_id=ahead.id, data=AttendanceInput(
            attendance={p.id: "present" for p in members}))
    assert exc.value.message.startswith(f"La séance du {local:%d/%m/%Y} à 12:30 n'a pas encore commencé")


def test_the_clock_must_carry_its_time_zone(board_world: Any) -> None:
    meeting = session_on(board_world, "Sein", MARCH_11)
    with board_world.db.uow() as uow, pytest.raises(ValueError, match="timezone-aware"):
        svc.validate_session(uow, session_id=meeting.id, today=MARCH_11, now=datetime(2025, 3, 12, 9, 0))
