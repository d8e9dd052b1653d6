"""The typed states: which transition is allowed, written out here (not read from dcc.domain.states), and the
French refusal of any other."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from dcc.domain.states import (
    CaseStatus,
    DocumentStatus,
    InvalidTransition,
    OutboxState,
    SessionStatus,
    advance,
    allowed,
)

EXPECTED = {
    CaseStatus: {("pending", "assigned"), ("assigned", "pending"), ("assigned", "decided"),
                 ("decided", "represented"), ("pending", "withdrawn"), ("assigned", "withdrawn")},
    SessionStatus: {("planned", "held"), ("planned", "cancelled"), ("planned", "validated"),
                    ("held", "validated")},
    DocumentStatus: {("draft", "signed"), ("signed", "delivered"), ("signed", "failed"), ("failed", "delivered"),
                     ("signed", "superseded"), ("delivered", "superseded"), ("failed", "superseded")},
    OutboxState: {("pending", "delivered"), ("pending", "dead"), ("pending", "held"), ("pending", "blocked"),
                  ("held", "pending"), ("held", "blocked"), ("blocked", "pending"), ("blocked", "held"),
                  ("dead", "pending"), ("delivered", "pending")},
}
VALUES = {
    CaseStatus: {"pending", "assigned", "decided", "represented", "withdrawn"},
    SessionStatus: {"planned", "held", "validated", "cancelled"},
    DocumentStatus: {"draft", "signed", "delivered", "failed", "superseded"},
    OutboxState: {"pending", "delivered", "dead", "held", "blocked"},
}


@pytest.mark.parametrize("kind", list(EXPECTED), ids=lambda k: k.__name__)
def test_every_pair_of_states_is_allowed_exactly_as_written(kind: type) -> None:
    assert {s.value for s in kind} == VALUES[kind]
    for old, new in itertools.product(VALUES[kind], repeat=2):
        expected = old == new or (old, new) in EXPECTED[kind]
        assert allowed(old, kind(new)) is expected, (old, new)


def test_a_refused_transition_says_so_in_french_and_changes_nothing() -> None:
    session = SimpleNamespace(status="validated")
    with pytest.raises(InvalidTransition) as err:
        advance(session, SessionStatus.PLANNED)
    assert err.value.status_code == 409
    assert err.value.message == "La séance est « validée » : il ne peut pas passer à « planifiée »."
    assert session.status == "validated"
    message = SimpleNamespace(state="delivered")
    with pytest.raises(InvalidTransition):
        advance(message, OutboxState.DEAD)
    assert message.state == "delivered"


def test_allowed_transitions_and_staying_put_set_the_stored_value() -> None:
    case = SimpleNamespace(status="pending")
    advance(case, CaseStatus.ASSIGNED)
    assert case.status == "assigned" and type(case.status) is str
    advance(case, CaseStatus.ASSIGNED)  # idempotent use cases: the same state again
    new = SimpleNamespace(status=None)  # a row not flushed yet: its default is not set
    advance(new, CaseStatus.PENDING)
    assert new.status == "pending"


def test_the_migration_keeps_the_database_to_the_same_values() -> None:
    import importlib.util
    from pathlib import Path

    import dcc

    path = Path(dcc.__file__).parent / "migrations" / "versions" / "0008_states.py"
    spec = importlib.util.spec_from_file_location("states_migration", path)
    assert spec and spec.loader
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    later = Path(dcc.__file__).parent / "migrations" / "versions" / "0009_calendar_tokens.py"
    spec9 = importlib.util.spec_from_file_location("calendar_tokens_migration", later)
    assert spec9 and spec9.loader
    migration9 = importlib.util.module_from_spec(spec9)
    spec9.loader.exec_module(migration9)
    stored = {k: set(v) for k, v in migration.STATES.items()}
    stored[("rcp_case", "status")] = set(migration9.CASE_STATUSES)  # 0009 re-creates the case check
    assert stored == {
        ("rcp_case", "status"): VALUES[CaseStatus], ("session", "status"): VALUES[SessionStatus],
        ("document", "status"): VALUES[DocumentStatus], ("outbox_message", "state"): VALUES[OutboxState]}
