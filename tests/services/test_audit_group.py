"""Audited reads on SQLite append their entries by group commit (`audit.GroupAppender`): entries queued while a
group is written go together in the next transaction, each caller returns once its own entries are committed,
a failed write fails every read of its group, and a caller no writer takes gives up (503) with nothing written.
Also: the in-process write lock of SQLite is let go only after the COMMIT."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from dcc.errors import DatabaseBusy
from dcc.services import audit
from dcc.services.audit import GroupAppender, seal_all, verify_chain
from dcc.services.uow import Database, UnitOfWork


def _item(n: int) -> dict[str, object]:
    return {"at": audit.m.utcnow(), "actor": f"user-{n}", "action": "case.read", "entity": "case",
            "entity_id": f"case-{n}", "patient_id": f"patient-{n}", "detail": {"role": "physician"}}


def _held_writer(db: Database) -> tuple[Callable[[], UnitOfWork], threading.Event, threading.Event]:
    """A unit-of-work factory whose first call waits until `release` is set (`entered` tells it is waiting): the
    first group's write is held while the other callers queue."""
    entered, release = threading.Event(), threading.Event()
    first = [True]

    def new_uow() -> UnitOfWork:
        if first[0]:
            first[0] = False
            entered.set()
            release.wait(30)
        return db.uow()

    return new_uow, entered, release


def _queued(appender: GroupAppender, n: int) -> None:
    """Wait until `n` callers are queued behind the group being written."""
    done = threading.Event()
    for _ in range(3000):
        with appender._lock:
            if len(appender._queue) >= n:
                done.set()
                break
        done.wait(0.01)
    assert done.is_set(), "the callers never queued"


def _run(appender: GroupAppender, items: list[dict[str, object]], errors: list[BaseException]) -> threading.Thread:
    def call() -> None:
        try:
            appender.append(items)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_entries_queued_during_a_write_go_together_in_the_next_transaction(database: Database) -> None:
    new_uow, entered, release = _held_writer(database)
    appender = GroupAppender(new_uow, wait_s=30)
    errors: list[BaseException] = []
    leader = _run(appender, [_item(0)], errors)
    assert entered.wait(30)
    followers = []
    for n in range(1, 6):
        followers.append(_run(appender, [_item(n), _item(n + 10)], errors))
        _queued(appender, n)  # arrival order is known
    release.set()
    for t in [leader, *followers]:
        t.join(30)
    assert errors == []
    assert appender.groups == 2  # the leader's own entry, then the five queued callers in one transaction
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT entity_id, lane, lane_seq FROM audit_event ORDER BY id")).all()
    assert [r.entity_id for r in rows] == ["case-0"] + [f"case-{k}" for n in range(1, 6) for k in (n, n + 10)]
    group = rows[1:]
    assert len({r.lane for r in group}) == 1
    assert [r.lane_seq for r in group] == list(range(group[0].lane_seq, group[0].lane_seq + 10))
    with database.uow() as uow:
        assert verify_chain(uow) == []
    assert seal_all(database) == 11
    with database.uow() as uow:
        assert verify_chain(uow) == []


def test_a_failed_write_fails_every_read_of_its_group_and_the_next_group_is_written(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    new_uow, entered, release = _held_writer(database)
    appender = GroupAppender(new_uow, wait_s=30)
    errors: list[BaseException] = []

    def unavailable(*_: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "_locked_lane", unavailable)
    threads = [_run(appender, [_item(0)], errors)]
    assert entered.wait(30)
    for n in range(1, 4):
        threads.append(_run(appender, [_item(n)], errors))
        _queued(appender, n)
    release.set()
    for t in threads:
        t.join(30)
    assert len(errors) == 4 and all(isinstance(e, RuntimeError) for e in errors)
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_event")).scalar() == 0
    monkeypatch.undo()
    appender.append([_item(9)])  # not stuck: the next caller writes
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT entity_id FROM audit_event")).scalars().all() == ["case-9"]


def test_a_caller_no_writer_takes_gives_up_with_database_busy_and_nothing_written(database: Database) -> None:
    new_uow, entered, release = _held_writer(database)
    appender = GroupAppender(new_uow, wait_s=0.2)
    errors: list[BaseException] = []
    leader = _run(appender, [_item(0)], errors)
    assert entered.wait(30)
    with pytest.raises(DatabaseBusy):
        appender.append([_item(1)])  # the write under way is held past its wait
    release.set()
    leader.join(30)
    assert errors == []
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT entity_id FROM audit_event")).scalars().all() == ["case-0"]
    appender.append([_item(2)])
    with database.uow() as uow:
        assert verify_chain(uow) == []


def test_sqlite_lets_the_next_writer_in_only_after_the_commit(sqlite_template: Path, tmp_path: Path) -> None:
    """SQLAlchemy announces a commit before it runs it: a writer let in at that moment would meet SQLite's own
    lock still held (here, with no busy wait, "database is locked" at once). It must wait for the COMMIT.
    SQLite only (the in-process write lock is SQLite's), so it takes a SQLite database whatever the backends."""
    path = tmp_path / "dcc.sqlite3"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    from sqlalchemy import event

    outcome: list[str] = []

    def other_writer() -> None:
        with database.uow() as uow:
            uow.session.execute(text("PRAGMA busy_timeout=0"))  # SQLite's busy handler would hide the race
            uow.rollback()
            try:
                uow.begin_write()
                uow.session.execute(text("UPDATE audit_lane SET seq = seq WHERE id = 0"))
                uow.commit()
                outcome.append("committed")
            except DatabaseBusy:
                outcome.append("busy")

    threads: list[threading.Thread] = []

    def on_commit(_conn: object) -> None:  # just before the first writer's COMMIT
        if not threads:
            threads.append(threading.Thread(target=other_writer))
            threads[0].start()
            threads[0].join(0.5)  # let it reach the lock (or, wrongly, SQLite) before this COMMIT runs

    event.listen(database.engine, "commit", on_commit)
    try:
        with database.uow() as uow:
            uow.begin_write()
            uow.session.execute(text("UPDATE audit_lane SET seq = seq WHERE id = 0"))
            uow.commit()
        threads[0].join(30)
    finally:
        event.remove(database.engine, "commit", on_commit)
        database.dispose()
    assert outcome == ["committed"]


def test_a_caller_whose_entries_a_slow_writer_took_waits_for_that_write(database: Database) -> None:
    """The caller's wait ends while the group holding its entries is still being written: it neither gives up
    (its entries are about to be committed) nor fails otherwise; it returns once they are."""
    calls, entered, release, second = [0], threading.Event(), threading.Event(), threading.Event()

    def new_uow() -> UnitOfWork:
        calls[0] += 1
        if calls[0] == 1:  # the leader's write: held while two callers queue
            entered.set()
            release.wait(30)
        elif calls[0] == 2:  # the next group's write: slower than the callers' wait
            second.set()
            threading.Event().wait(1.0)
        return database.uow()

    appender = GroupAppender(new_uow, wait_s=0.4)
    errors: list[BaseException] = []
    leader = _run(appender, [_item(0)], errors)
    assert entered.wait(30)
    first = _run(appender, [_item(1)], errors)
    _queued(appender, 1)
    taken = _run(appender, [_item(2)], errors)
    _queued(appender, 2)
    release.set()
    assert second.wait(30)
    for t in (leader, first, taken):
        t.join(30)
    assert errors == []
    assert appender.groups == 2
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT entity_id FROM audit_event ORDER BY id")).scalars().all() == [
            "case-0", "case-1", "case-2"]
