"""The hash-chained audit log: appends, the append-only triggers, and `verify_chain` detecting an edited,
deleted, reordered or truncated entry (the latter through the `audit_head` row)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dcc.services.audit import record_audit, verify_chain
from dcc.services.uow import Database


def _write(db: Database, n: int = 5) -> None:
    with db.uow() as uow:
        for i in range(n):
            record_audit(uow, actor=f"user-{i}", action="case.read", entity="case", entity_id=f"case-{i}",
                         patient_id=f"patient-{i % 2}", detail={"i": i, "texte": "lecture é"})
        uow.commit()


def _verify(db: Database) -> list[str]:
    with db.uow() as uow:
        return verify_chain(uow)


def _tamper(db: Database, *statements: str) -> None:
    """Run raw SQL as the table owner would, with the append-only triggers out of the way."""
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS audit_event_append_only_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_event_append_only_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement))
        if db.engine.dialect.name != "sqlite":
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))


@pytest.fixture
def log(database: Database) -> Iterator[Database]:
    _write(database)
    assert _verify(database) == []
    yield database


def test_intact_log_verifies_and_head_follows(log: Database) -> None:
    _write(log, 3)
    assert _verify(log) == []
    with log.engine.connect() as conn:
        count, last_id = conn.execute(text("SELECT count, last_id FROM audit_head WHERE id = 1")).one()
        assert (count, last_id) == (8, conn.execute(text("SELECT MAX(id) FROM audit_event")).scalar())


def test_database_refuses_update_and_delete(log: Database) -> None:
    for statement in ("UPDATE audit_event SET actor = 'x' WHERE id = 2", "DELETE FROM audit_event WHERE id = 2"):
        with pytest.raises(DBAPIError, match="ajout seul"), log.engine.begin() as conn:
            conn.execute(text(statement))
    assert _verify(log) == []


def test_detects_an_edited_entry(log: Database) -> None:
    _tamper(log, "UPDATE audit_event SET actor = 'intrus' WHERE id = 2")
    problems = _verify(log)
    assert any("Entrée 2 : contenu modifié" in p for p in problems), problems


def test_detects_an_edited_entry_whose_hash_was_recomputed(log: Database) -> None:
    _tamper(log, "UPDATE audit_event SET hash = 'aa' WHERE id = 3")
    problems = _verify(log)
    assert any("Entrée 3 : contenu modifié" in p for p in problems)
    assert any("Entrée 4 : chaînage rompu" in p for p in problems)


def test_detects_a_deleted_entry(log: Database) -> None:
    _tamper(log, "DELETE FROM audit_event WHERE id = 3")
    problems = _verify(log)
    assert any("Entrée 4 : chaînage rompu" in p for p in problems), problems
    assert any("compte 4 entrée(s) alors que 5" in p for p in problems), problems


def test_detects_reordered_entries(log: Database) -> None:
    # swap the contents of entries 2 and 3 (ids stay in place)
    cols = "at, actor, action, entity, entity_id, patient_id, detail, prev_hash, hash"
    _tamper(log,
            f"CREATE TABLE swap AS SELECT id, {cols} FROM audit_event WHERE id IN (2, 3)",
            *[f"UPDATE audit_event SET {c} = (SELECT s.{c} FROM swap s WHERE s.id = 5 - audit_event.id) "
              "WHERE id IN (2, 3)" for c in cols.split(", ")],
            "DROP TABLE swap")
    problems = _verify(log)
    assert any("chaînage rompu" in p for p in problems), problems


def test_detects_a_truncated_tail(log: Database) -> None:
    _tamper(log, "DELETE FROM audit_event WHERE id >= 4")
    problems = _verify(log)
    assert problems, "a chain cut at its end is still a valid chain: the head must catch it"
    assert any("tronqué" in p for p in problems), problems


def test_detects_a_log_emptied(log: Database) -> None:
    _tamper(log, "DELETE FROM audit_event")
    assert any("compte 0 entrée(s) alors que 5" in p for p in _verify(log))


def test_audit_write_failure_rolls_the_action_back(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same transaction: if the entry cannot be written, nothing of the action is kept."""
    from dcc.adapters.db import models as m
    from dcc.services import audit

    def unavailable(*_: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "_locked_head", unavailable)
    with database.uow() as uow:
        uow.session.add(m.Region(code="Z", name="Test", dsrc_id="0000", dsrc_name="Test"))
        with pytest.raises(RuntimeError):
            record_audit(uow, actor="x", action="region.create", entity="region", entity_id="Z")
            uow.commit()
    with database.uow() as uow:
        assert uow.session.query(m.Region).filter(m.Region.code == "Z").count() == 0
