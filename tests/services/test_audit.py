"""The hash-chained audit log: appends, the append-only triggers, and `verify_chain` detecting an edited,
deleted, reordered or truncated entry (the latter through the `audit_head` row), sealed or not yet sealed
(through the write lanes)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dcc.services.audit import pending_count, record_audit, record_audits, seal_all, verify_chain
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
            conn.execute(text("DROP TRIGGER IF EXISTS audit_lane_append_only_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_lane_append_only_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_lane DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement))
        if db.engine.dialect.name != "sqlite":
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_lane ENABLE TRIGGER USER"))


@pytest.fixture
def log(database: Database) -> Iterator[Database]:
    _write(database)
    assert _verify(database) == []
    assert seal_all(database) == 5
    assert _verify(database) == []
    yield database


def test_intact_log_verifies_and_head_follows(log: Database) -> None:
    _write(log, 3)
    assert _verify(log) == []
    assert seal_all(log) == 3
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

    monkeypatch.setattr(audit, "_locked_lane", unavailable)
    with database.uow() as uow:
        uow.session.add(m.Region(code="Z", name="Test", dsrc_id="0000", dsrc_name="Test"))
        with pytest.raises(RuntimeError):
            record_audit(uow, actor="x", action="region.create", entity="region", entity_id="Z")
            uow.commit()
    with database.uow() as uow:
        assert uow.session.query(m.Region).filter(m.Region.code == "Z").count() == 0


# ------------------------------------------------------------------ entries written but not yet sealed


@pytest.fixture
def unsealed(log: Database) -> Iterator[Database]:
    """Entries 1-5 sealed into the chain, 6-9 written (in their lane) and waiting for the sealer."""
    _write(log, 4)
    with log.uow() as uow:
        assert pending_count(uow) == 4
        assert verify_chain(uow) == []
    yield log


def test_unsealed_entries_are_sealed_in_order_and_the_chain_stays_intact(unsealed: Database) -> None:
    assert seal_all(unsealed) == 4
    assert _verify(unsealed) == []
    with unsealed.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, seal_seq, prev_hash, hash FROM audit_event ORDER BY id")).all()
        head = conn.execute(text("SELECT count, last_id, last_hash FROM audit_head WHERE id = 1")).one()
    assert [r.seal_seq for r in rows] == list(range(1, 10))
    assert all(r.prev_hash == p.hash for p, r in zip(rows, rows[1:], strict=False))
    assert tuple(head) == (9, rows[-1].id, rows[-1].hash)


def test_database_refuses_editing_a_sealed_entry_or_rewinding_a_lane(unsealed: Database) -> None:
    for statement in ("UPDATE audit_event SET actor = 'x' WHERE id = 7",
                      "UPDATE audit_event SET seal_seq = 99, hash = 'aa' WHERE id = 2",
                      "UPDATE audit_event SET seal_seq = 99, hash = 'aa', actor = 'x' WHERE id = 7",
                      "DELETE FROM audit_event WHERE id = 8",
                      "UPDATE audit_lane SET seq = 0", "DELETE FROM audit_lane"):
        with pytest.raises(DBAPIError, match="ajout seul"), unsealed.engine.begin() as conn:
            conn.execute(text(statement))
    assert _verify(unsealed) == []


def test_detects_an_edited_unsealed_entry(unsealed: Database) -> None:
    _tamper(unsealed, "UPDATE audit_event SET patient_id = 'autre' WHERE id = 7")
    problems = _verify(unsealed)
    assert any("Entrée 7 : contenu modifié" in p for p in problems), problems
    seal_all(unsealed)  # sealing does not launder it
    assert any("Entrée 7 : contenu modifié" in p for p in _verify(unsealed))


def test_detects_a_deleted_unsealed_entry(unsealed: Database) -> None:
    _tamper(unsealed, "DELETE FROM audit_event WHERE id = 7")
    problems = _verify(unsealed)
    assert any("Entrée 8 : numéro" in p and "supprimée" in p for p in problems), problems
    seal_all(unsealed)
    assert any("Entrée 8 : numéro" in p for p in _verify(unsealed))


def test_detects_reordered_unsealed_entries(unsealed: Database) -> None:
    cols = "at, actor, action, entity, entity_id, patient_id, detail"
    _tamper(unsealed,
            f"CREATE TABLE swap AS SELECT id, {cols} FROM audit_event WHERE id IN (7, 8)",
            *[f"UPDATE audit_event SET {c} = (SELECT s.{c} FROM swap s WHERE s.id = 15 - audit_event.id) "
              "WHERE id IN (7, 8)" for c in cols.split(", ")],
            "DROP TABLE swap")
    problems = _verify(unsealed)
    assert any("Entrée 7 : contenu modifié" in p for p in problems), problems
    assert any("Entrée 8 : contenu modifié" in p for p in problems), problems


def test_detects_unsealed_entries_moved_with_their_lane_numbers(unsealed: Database) -> None:
    # every column but the id swapped: the lane still reads in order, but ids no longer follow the lane
    _tamper(unsealed, "UPDATE audit_event SET id = 100 WHERE id = 7", "UPDATE audit_event SET id = 7 WHERE id = 8",
            "UPDATE audit_event SET id = 8 WHERE id = 100")
    assert any("déplacée" in p for p in _verify(unsealed))


def test_detects_a_truncated_unsealed_tail(unsealed: Database) -> None:
    _tamper(unsealed, "DELETE FROM audit_event WHERE id >= 8")
    problems = _verify(unsealed)
    assert any("tronqué" in p for p in problems), problems
    seal_all(unsealed)  # the sealer chains what is left: the lane still tells
    assert any("tronqué" in p for p in _verify(unsealed))


def test_detects_a_deleted_lane(unsealed: Database) -> None:
    _tamper(unsealed, "DELETE FROM audit_lane")
    assert any("inconnue" in p for p in _verify(unsealed))


def test_concurrent_writers_and_a_sealer_keep_every_entry_and_the_chain(database: Database) -> None:
    """Writers in parallel (PostgreSQL: in different lanes) while a sealer runs: nothing lost, all intact."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        try:
            for i in range(15):
                with database.uow() as uow:
                    record_audit(uow, actor=f"w{k}", action="case.read", entity="case", entity_id=f"{k}-{i}")
                    record_audit(uow, actor=f"w{k}", action="case.read", entity="case", entity_id=f"{k}-{i}b")
                    uow.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def sealer() -> None:
        while not stop.is_set():
            seal_all(database)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    seal_thread = threading.Thread(target=sealer)
    seal_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    seal_thread.join()
    assert errors == []
    assert _verify(database) == []
    seal_all(database)
    assert _verify(database) == []
    with database.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT entity_id FROM audit_event")).all()}
        assert conn.execute(text("SELECT COUNT(*) FROM audit_event WHERE seal_seq IS NULL")).scalar() == 0
    assert ids == {f"{k}-{i}{s}" for k in range(6) for i in range(15) for s in ("", "b")}


def test_one_read_of_several_patients_appends_consecutive_entries_of_one_lane(database: Database) -> None:
    """An agenda read audits one entry per patient in one append: consecutive numbers of one lane, in the
    order given; the chain verifies before and after sealing, and an entry deleted from the middle of the
    append is still detected."""
    with database.uow() as uow:
        record_audits(uow, actor="coord-a", action="session.agenda_read", entity="session", entity_id="s-1",
                      patient_ids=["p-1", "p-2", "p-3"], detail={"role": "coordinator"})
        uow.commit()
    with database.uow() as uow:
        rows = uow.session.execute(text("SELECT id, lane, lane_seq, patient_id FROM audit_event ORDER BY id")).all()
    assert [r.patient_id for r in rows] == ["p-1", "p-2", "p-3"]
    assert len({r.lane for r in rows}) == 1
    assert [r.lane_seq for r in rows] == [rows[0].lane_seq, rows[0].lane_seq + 1, rows[0].lane_seq + 2]
    assert _verify(database) == []
    assert seal_all(database) == 3
    assert _verify(database) == []
    _tamper(database, f"DELETE FROM audit_event WHERE id = {rows[1].id}")
    assert _verify(database)
