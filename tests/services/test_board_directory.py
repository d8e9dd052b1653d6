"""Board directory use cases on SQLite and PostgreSQL: edit a board with the creation's checks, deactivate it,
find its establishment by FINESS, say its rule in French. Bad input writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.errors import Conflict, ValidationFailed
from dcc.services import directory
from dcc.services.directory import BoardCreation


def creation_of(w: Any, board: m.Board, **changes: Any) -> BoardCreation:
    members = [p.id for p in w.members(board.id)]
    fields: dict[str, Any] = dict(
        establishment_id=board.establishment_id, rcp_id=board.rcp_id, name=board.name, kind=board.kind,
        appareil_code=board.appareil_code, organe_code=board.organe_code, transversal_code=board.transversal_code,
        recurrence=board.recurrence, start_time=board.start_time, duration_min=board.duration_min,
        capacity=board.capacity, deadline_working_days=board.deadline_working_days, place=board.place,
        video_link=board.video_link, required_specialties=list(board.required_specialties),
        responsible_id=board.responsible_id, coordinator_id=board.coordinator_id, member_ids=members)
    fields.update(changes)
    return BoardCreation(**fields)


def test_update_board_changes_rule_place_and_members_audited(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    members = [p.id for p in w.members(sein.id)]
    dropped = next(p for p in members if p not in (sein.responsible_id, sein.coordinator_id))
    data = creation_of(w, sein, recurrence="FREQ=WEEKLY;BYDAY=TH", start_time="08:15", capacity=13,
                       place="Salle Curie", video_link="https://visio.example.fr/sein",
                       member_ids=[p for p in members if p != dropped])
    with w.db.uow() as uow:
        changed = directory.update_board(uow, board_id=sein.id, data=data, actor="coord")
    assert {"recurrence", "start_time", "capacity", "place", "video_link", "members"} <= set(changed)
    after = w.board("Sein")
    assert (after.recurrence, after.start_time, after.capacity, after.place) == (
        "FREQ=WEEKLY;BYDAY=TH", "08:15", 13, "Salle Curie")
    assert dropped not in [p.id for p in w.members(sein.id)]
    assert w.audit("board.update")[-1].detail["changed"] == changed


@pytest.mark.parametrize(("changes", "field"), [
    ({"recurrence": "FREQ=SOMETIMES"}, "recurrence"),
    ({"video_link": "http://visio.example.fr"}, "video_link"),
    ({"appareil_code": "pas-un-code"}, "appareil_code"),
    ({"required_specialties": ["astrologue"]}, "required_specialties[0]"),
    ({"member_ids": ["inconnu"]}, "member_ids[0]"),
])
def test_update_board_refuses_bad_input_in_french_and_writes_nothing(board_world: Any, changes: dict[str, Any],
                                                                     field: str) -> None:
    w = board_world
    sein = w.board("Sein")
    members_before = sorted(p.id for p in w.members(sein.id))
    data = creation_of(w, sein, place="Ailleurs", **changes)
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as err:
        directory.update_board(uow, board_id=sein.id, data=data, actor="coord")
    assert err.value.field == field
    assert w.board("Sein").place == sein.place
    assert sorted(p.id for p in w.members(sein.id)) == members_before


def test_update_board_refuses_another_boards_national_id(board_world: Any) -> None:
    w = board_world
    sein, other = w.board("Sein"), w.board("Thorax")
    with w.db.uow() as uow, pytest.raises(Conflict) as err:
        directory.update_board(uow, board_id=sein.id, data=creation_of(w, sein, rcp_id=other.rcp_id), actor="c")
    assert "identifiant national" in err.value.message


def test_deactivate_board_refused_while_cases_wait_then_cancels_empty_sessions(board_world: Any) -> None:
    w = board_world
    sein = w.board("Sein")
    case_id = w.register("Sein", 1)
    with w.db.uow() as uow, pytest.raises(Conflict) as err:
        directory.deactivate_board(uow, board_id=sein.id, today=w.today, actor="coord")
    assert "1 dossier(s)" in err.value.message
    assert w.board("Sein").active is True
    with w.db.uow() as uow:  # the case leaves the board (here: withdrawn by hand)
        uow.session.get(m.Case, case_id).status = "withdrawn"
        uow.commit()
    planned = [s for s in w.sessions(sein.id) if s.status == "planned"]
    with w.db.uow() as uow:
        done = directory.deactivate_board(uow, board_id=sein.id, today=w.today, actor="coord")
    assert done.cancelled_sessions == len(planned)
    assert w.board("Sein").active is False
    assert {s.status for s in w.sessions(sein.id)} == {"cancelled"}
    # no new session is planned for it, no case registered on it
    from dcc.services import boards as svc

    with w.db.uow() as uow:
        svc.plan_sessions(uow, today=w.today, horizon_weeks=10, board_ids=[sein.id])
    assert {s.status for s in w.sessions(sein.id)} == {"cancelled"}
    with pytest.raises(ValidationFailed) as refused:
        w.register("Sein", 2)
    assert "désactivée" in refused.value.message


def test_establishment_by_finess_checks_the_key_and_the_scope(board_world: Any) -> None:
    w = board_world
    with w.db.uow() as uow:
        est = uow.session.scalars(select(m.Establishment)).first()
        assert est is not None
        assert directory.establishment_by_finess(uow, est.finess, allowed_ids={est.id}).id == est.id
        with pytest.raises(ValidationFailed) as bad_key:
            wrong = est.finess[:-1] + str((int(est.finess[-1]) + 1) % 10)
            directory.establishment_by_finess(uow, wrong, allowed_ids=None)
        assert bad_key.value.field == "establishment_finess"
        with pytest.raises(ValidationFailed) as out_of_scope:
            directory.establishment_by_finess(uow, est.finess, allowed_ids=set())
        assert "périmètre" in out_of_scope.value.message


@pytest.mark.parametrize(("frequency", "weekday", "rank", "rule", "words"), [
    ("hebdomadaire", "TU", "1", "FREQ=WEEKLY;BYDAY=TU", "chaque semaine, le mardi"),
    ("bimensuelle", "TH", "1", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", "toutes les deux semaines, le jeudi"),
    ("mensuelle", "FR", "-1", "FREQ=MONTHLY;BYDAY=-1FR", "le dernier vendredi du mois"),
    ("mensuelle", "MO", "2", "FREQ=MONTHLY;BYDAY=2MO", "le deuxième lundi du mois"),
])
def test_recurrence_as_people_say_it(frequency: str, weekday: str, rank: str, rule: str, words: str) -> None:
    assert directory.recurrence_rule(frequency, weekday, rank) == rule
    assert directory.recurrence_parts(rule) == (frequency, weekday, rank)
    assert directory.describe_recurrence(rule) == words


def test_recurrence_refuses_a_weekend_or_unknown_frequency() -> None:
    with pytest.raises(ValidationFailed) as err:
        directory.recurrence_rule("hebdomadaire", "SU")
    assert err.value.field == "weekday"
    with pytest.raises(ValidationFailed) as err:
        directory.recurrence_rule("annuelle", "MO")
    assert err.value.field == "frequency"
    assert directory.describe_recurrence("FREQ=DAILY") == "FREQ=DAILY"
