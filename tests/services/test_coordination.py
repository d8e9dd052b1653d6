"""Coordinator case use cases on SQLite and PostgreSQL: the case list's filters, registration assigned at once
by the flow's service, editing a case before its session, withdrawing it with a reason."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from dcc.adapters.db import models as m
from dcc.domain.calendar import PARIS
from dcc.errors import Conflict, ValidationFailed
from dcc.services import coordination

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=PARIS)  # the board world's Monday, in the morning


def day_of(w: Any, session_id: str | None) -> date | None:
    if session_id is None:
        return None
    return next(s for b in w.board_ids for s in w.sessions(b) if s.id == session_id).starts_at.astimezone(
        PARIS).date()


def test_registration_is_assigned_at_once_with_its_reason(board_world: Any) -> None:
    w = board_world
    other = w.register("Sein", 1)  # registered through the plain use case: stays pending
    with w.db.uow() as uow:
        done = coordination.register_and_assign(uow, data=w.registration("Sein", 2), today=w.today, actor="coord")
    assert done.session_id is not None and done.board_name == "RCP Sein"
    assert day_of(w, done.session_id) == date(2025, 3, 11)  # 4 March is closed (deadline): first open Tuesday
    assert done.reason and w.case(done.case_id).assignment_reason == done.reason
    assert w.case(done.case_id).status == "assigned"
    assert w.case(other).status == "pending"  # only the new case: the scheduled flow does the batches
    assert not w.audit("case.move") and not w.audit("case.reassign")  # a first assignment is not a move


def test_registration_without_a_possible_session_stays_pending_with_why(board_world: Any) -> None:
    w = board_world
    with w.db.uow() as uow:
        done = coordination.register_and_assign(uow, data=w.registration("Sein", 3, earliest_date=date(2026, 1, 5)),
                                                today=w.today, actor="coord")
    assert done.session_id is None and done.reason
    assert w.case(done.case_id).status == "pending"


def test_search_cases_filters_and_pages(board_world: Any) -> None:
    w = board_world
    sein, thorax = w.board("Sein"), w.board("Thorax")
    ids = [w.register("Sein", n) for n in range(1, 4)]
    w.assign()
    scope = {sein.id, thorax.id}
    with w.db.uow() as uow:
        everything = coordination.search_cases(uow, board_ids=scope)
        assert everything.total == 3 and {r.case.id for r in everything.rows} == set(ids)
        assert coordination.search_cases(uow, board_ids={thorax.id}).total == 0  # the scope
        assert coordination.search_cases(uow, board_ids=scope, board_id=thorax.id).total == 0
        by_name = coordination.search_cases(uow, board_ids=scope, q="martin-d")  # family_name(3): MARTIN-D
        assert [r.case.id for r in by_name.rows] == [ids[2]]
        assert coordination.search_cases(uow, board_ids=scope, status="pending").total == 0
        session_id = w.case(ids[0]).session_id
        on_session = coordination.search_cases(uow, board_ids=scope, session_id=session_id)
        assert ids[0] in {r.case.id for r in on_session.rows}
        when = day_of(w, session_id)
        dated = coordination.search_cases(uow, board_ids=scope, date_from=when, date_to=when)
        assert {r.case.id for r in dated.rows} == {r.case.id for r in on_session.rows}
        assert coordination.search_cases(uow, board_ids=scope, date_from=date(2030, 1, 1)).total == 0
        with pytest.raises(ValidationFailed):
            coordination.search_cases(uow, board_ids=scope, status="perdu")
    many = [w.register("Sein", n) for n in range(10, 10 + coordination.PAGE_SIZE)]
    with w.db.uow() as uow:
        first = coordination.search_cases(uow, board_ids=scope)
        second = coordination.search_cases(uow, board_ids=scope, page=2)
        first_ids, second_ids = {r.case.id for r in first.rows}, {r.case.id for r in second.rows}
    assert first.total == 3 + len(many) and first.pages == 2
    assert len(first_ids) == coordination.PAGE_SIZE and len(second_ids) == 3
    assert not first_ids & second_ids


def test_edit_case_before_its_session_audited(board_world: Any) -> None:
    w = board_world
    case_id = w.register("Sein", 1)
    w.assign()
    data = coordination.CaseEdit(question="Chirurgie conservatrice possible ?", summary="Résumé complété.",
                                 urgent=True, earliest_date=w.today)
    with w.db.uow() as uow:
        changed = coordination.edit_case(uow, case_id=case_id, data=data, today=w.today, actor="coord", now=NOW)
    assert set(changed) == {"question", "summary", "urgent"}
    case = w.case(case_id)
    assert (case.question, case.summary, case.urgent) == ("Chirurgie conservatrice possible ?",
                                                          "Résumé complété.", True)
    assert w.audit("case.edit")[-1].detail["before"]["urgent"] == "False"
    late = coordination.CaseEdit(question="x ?", earliest_date=date(2025, 4, 30))
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as err:
        coordination.edit_case(uow, case_id=case_id, data=late, today=w.today, actor="coord", now=NOW)
    assert err.value.field == "earliest_date" and "déplacer d'abord" in err.value.message
    assert w.case(case_id).question == "Chirurgie conservatrice possible ?"  # nothing written


def test_withdraw_case_frees_its_place_and_keeps_the_reason(board_world: Any) -> None:
    w = board_world
    case_id = w.register("Sein", 1)
    w.assign()
    session_id = w.case(case_id).session_id
    assert session_id is not None
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as err:
        coordination.withdraw_case(uow, case_id=case_id, reason="  ", actor="coord", now=NOW)
    assert err.value.field == "motif" and w.case(case_id).status == "assigned"
    with w.db.uow() as uow:
        coordination.withdraw_case(uow, case_id=case_id, reason="Patiente traitée dans un autre centre.",
                                   actor="coord", now=NOW)
    case = w.case(case_id)
    assert (case.status, case.session_id, case.withdrawal_reason) == (
        "withdrawn", None, "Patiente traitée dans un autre centre.")
    assert w.audit("case.withdraw")[-1].detail == {"reason": "Patiente traitée dans un autre centre.",
                                                   "session_id": session_id}
    with w.db.uow() as uow, pytest.raises(Conflict) as again:
        coordination.withdraw_case(uow, case_id=case_id, reason="Deuxième retrait.", actor="coord", now=NOW)
    assert "retiré" in again.value.message
    # the patient may be registered again on the board (a withdrawn case is closed)
    assert w.register("Sein", 1)


def test_a_case_whose_session_has_started_can_no_longer_be_changed(board_world: Any) -> None:
    w = board_world
    case_id = w.register("Sein", 1)
    w.assign()
    with w.db.uow() as uow:  # its session moved into the past (as if the meeting had begun)
        case = uow.session.get(m.Case, case_id)
        session = uow.session.get(m.Session, case.session_id)
        session.starts_at = datetime(2025, 3, 1, 9, 0, tzinfo=PARIS)
        uow.commit()
    with w.db.uow() as uow, pytest.raises(Conflict) as err:
        coordination.withdraw_case(uow, case_id=case_id, reason="Trop tard pour retirer.", actor="coord", now=NOW)
    assert "a commencé" in err.value.message
