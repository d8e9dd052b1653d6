"""Session management of the coordinator's pages on SQLite and PostgreSQL: an extra session, and the preview
of a cancellation or a move (what the confirmation will do, with nothing written before it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from dcc.adapters.db import models as m
from dcc.domain.calendar import PARIS
from dcc.errors import ValidationFailed
from dcc.services import boards as svc
from dcc.services import session_changes


def day(s: m.Session) -> date:
    return s.starts_at.astimezone(PARIS).date()


def test_add_session_outside_the_rule_with_its_deadline(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")  # Tuesdays 12:30, deadline 2 working days
    with w.db.uow() as uow:
        sid = session_changes.add_session(uow, board_id=sein.id, starts_at=datetime(2025, 3, 13, 18, 0),
                                          today=w.today, actor="coord")
    extra = next(s for s in w.sessions(sein.id) if s.id == sid)
    assert extra.starts_at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") == "2025-03-13 18:00"
    assert extra.registration_deadline == date(2025, 3, 11)  # Thursday minus 2 working days
    assert extra.capacity == sein.capacity and extra.status == "planned"
    assert w.audit("session.add")[-1].entity_id == sid
    # planning again keeps it and adds nothing at its time
    with w.db.uow() as uow:
        svc.plan_sessions(uow, today=w.today, horizon_weeks=6)
    assert sum(1 for s in w.sessions(sein.id) if s.id == sid) == 1


def test_add_session_refusals_write_nothing(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    before = len(w.sessions(sein.id))
    existing = w.sessions(sein.id)[1].starts_at.astimezone(PARIS).replace(tzinfo=None)
    for when, words in ((datetime(2025, 3, 1, 12, 30), "dans le passé"), (existing, "déjà une séance")):
        with w.db.uow() as uow, pytest.raises(ValidationFailed) as err:
            session_changes.add_session(uow, board_id=sein.id, starts_at=when, today=w.today, actor="coord")
        assert words in err.value.message and err.value.field == "starts_at"
    assert len(w.sessions(sein.id)) == before


def test_cancel_preview_says_what_the_confirmation_then_does(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    first = [w.register("Sein", n) for n in range(1, 4)]
    w.assign()
    source = w.case(first[0]).session_id
    assert source is not None
    on_source = [cid for cid in first if w.case(cid).session_id == source]
    with w.db.uow() as uow:
        preview = session_changes.preview_cancel(uow, session_id=source, today=w.today, actor="coord")
    assert sorted(r.case_id for r in preview.rows) == sorted(on_source)
    # nothing written by the preview
    assert next(s for s in w.sessions(sein.id) if s.id == source).status == "planned"
    assert all(w.case(cid).session_id == source for cid in on_source)
    assert not w.audit("session.cancel") and not w.audit("case.reassign")
    with w.db.uow() as uow:
        summary = svc.cancel_session(uow, session_id=source, today=w.today, actor="coord")
    assert {r.case_id: r.target_session_id for r in preview.rows} == {
        cid: mv.session_id for cid, mv in summary.moves.items()}
    for row in preview.rows:
        assert w.case(row.case_id).session_id == row.target_session_id
        assert row.target_session_id != source and row.reason.startswith("Séance du ")


def test_move_preview_lists_only_the_cases_that_no_longer_fit(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    early = w.register("Sein", 1)
    late = w.register("Sein", 2, earliest_date=date(2025, 3, 12))
    w.assign()
    target = w.case(late).session_id
    assert target is not None
    if w.case(early).session_id != target:  # both on the same session for the test
        with w.db.uow() as uow:
            svc.move_case(uow, case_id=early, session_id=target, today=w.today, force=True, actor="t")
    session = next(s for s in w.sessions(sein.id) if s.id == target)
    new_start = datetime.combine(date(2025, 3, 11) if day(session) != date(2025, 3, 11) else date(2025, 3, 10),
                                 datetime.min.time()).replace(hour=9)
    with w.db.uow() as uow:
        preview = session_changes.preview_move(uow, session_id=target, new_start=new_start, today=w.today,
                                               actor="coord")
    assert [r.case_id for r in preview.rows] == [late]  # its earliest date is after the new date
    assert preview.staying == 1
    assert next(s for s in w.sessions(sein.id) if s.id == target).starts_at == session.starts_at  # unchanged
    with w.db.uow() as uow:
        summary = svc.move_session(uow, session_id=target, new_start=new_start, today=w.today, actor="coord")
    assert summary.moves[late].session_id == preview.rows[0].target_session_id
    assert w.case(early).session_id == target
