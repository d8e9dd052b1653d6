"""The database keeps every state to its enum (CHECK constraints on PostgreSQL, triggers on SQLite), and the
use cases refuse a transition the state machine does not allow."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from dcc.adapters.db import models as m
from dcc.domain.states import InvalidTransition
from dcc.services import boards as board_services
from dcc.services.schemas import DecisionInput
from dcc.services.uow import Database

Chain = Any  # tests/services/conftest.py:Chain


@pytest.mark.parametrize(("table", "column"), [("rcp_case", "status"), ("session", "status"),
                                               ("document", "status"), ("outbox_message", "state")])
def test_a_state_outside_its_enum_is_refused_by_the_database(signed_chain: Chain, table: str, column: str) -> None:
    db: Database = signed_chain.db
    query = text(f"SELECT id, {column} FROM {table} ORDER BY id")
    with db.engine.connect() as conn:
        before = conn.execute(query).all()
    assert before, f"the scenario has no {table} row"
    with pytest.raises(DatabaseError), db.engine.begin() as conn:
        conn.execute(text(f"UPDATE {table} SET {column} = 'nimporte' WHERE id = :id"), {"id": before[0][0]})
    with db.engine.connect() as conn:
        assert conn.execute(query).all() == before


def test_a_decision_on_a_case_already_represented_is_refused(signed_chain: Chain) -> None:
    db: Database = signed_chain.db
    with db.uow() as uow:
        case = uow.session.scalars(select(m.Case).where(m.Case.status == "decided")).first()
        assert case is not None
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == case.id)).one()
        case_id, session_id = case.id, decision.session_id
        session = uow.session.get(m.Session, session_id)
        assert session is not None
        # the raw state a re-presentation leaves (the session reopened to reach the decision check)
        case.status, session.status = "represented", "held"
        uow.commit()
    with db.uow() as uow, pytest.raises(InvalidTransition) as err:
        board_services.record_decision(uow, case_id=case_id, data=DecisionInput(
            session_id=session_id, case_status="discussed", proposal_codes=["387713003"],
            proposal_text="Chirurgie.", conform_to_referential=True), actor="test")
    assert err.value.message == ("Le dossier est « représenté (quorum non atteint) » : il ne peut pas passer à "
                                 "« décidé ».")
    with db.uow() as uow:
        assert uow.session.get(m.Case, case_id).status == "represented"
