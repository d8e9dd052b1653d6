"""Append-only, hash-chained audit log. If the entry cannot be written, the action fails with it
(same transaction).

Two chains, so that auditing every read does not serialise every request on one locked row:

* **Lanes** (written with the entry, in the action's transaction). A transaction that audits locks one free
  `audit_lane` row (PostgreSQL `FOR UPDATE SKIP LOCKED`: concurrent transactions take different lanes and
  never wait for each other; SQLite has a single writer anyway). The entry gets the lane's next number
  (`lane_seq`) and a hash covering its content and the lane's previous hash (`lane_hash`); the lane row keeps
  the number and hash of its last entry. Numbers without gap + the lane row let `verify_chain` detect an
  entry deleted, edited, moved or cut from the end of its lane *before* it is sealed.
* **The chain** (`prev_hash`, `hash`, `seal_seq`), set once by the sealer (`seal_pending`: the web process
  every DCC_AUDIT_SEAL_INTERVAL_S, `dcc audit seal`) which links the unsealed entries, in id order, into one
  chain whose single-row `audit_head` (last id, last hash, count) detects a truncated tail. Only sealers lock
  the head; they skip a round when another sealer holds it.

The database refuses UPDATE and DELETE on `audit_event` except the sealing of an unsealed entry, and refuses
to delete a lane or move its number back (migrations 0003, 0007): tampering needs the table owner's rights,
and is then detected here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dcc.adapters.db import models as m
from dcc.adapters.db.guards import DETAIL_KEYS
from dcc.errors import DatabaseBusy
from dcc.services.uow import Database, UnitOfWork

log = logging.getLogger("dcc.audit")

HEAD_ID = 1
LANES = 16  # PostgreSQL: at most this many transactions append at the same time without waiting
SEAL_BATCH = 2000


def _content(ev: m.AuditEvent | _Entry) -> dict[str, Any]:
    return {"at": ev.at.isoformat(), "actor": ev.actor, "action": ev.action, "entity": ev.entity,
            "entity_id": ev.entity_id, "patient_id": ev.patient_id, "detail": ev.detail}


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _entry_hash(prev: str, ev: m.AuditEvent) -> str:
    """The chain hash: content + previous chained entry (+ the entry's lane position, since 0007)."""
    payload = {"prev": prev, **_content(ev)}
    if ev.lane is not None:
        payload |= {"lane": ev.lane, "lane_seq": ev.lane_seq, "lane_hash": ev.lane_hash}
    return _digest(payload)


def _lane_hash(prev: str, ev: m.AuditEvent | _Entry) -> str:
    return _digest({"lane_prev": prev, "lane": ev.lane, "lane_seq": ev.lane_seq, **_content(ev)})


def _insert_ignore(uow: UnitOfWork, table: Any, rows: list[dict[str, Any]]) -> None:
    insert = pg_insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    uow.session.execute(insert(table).values(rows).on_conflict_do_nothing())


@dataclass(frozen=True)
class _Lane:
    id: int
    seq: int
    last_hash: str


@dataclass
class _Entry:
    """An entry's hashed fields, before it is written (the same names as m.AuditEvent's columns)."""

    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    patient_id: str | None
    detail: dict[str, Any]
    lane: int
    lane_seq: int


# Built once (every audited read runs them); Core statements: the ORM's unit of work is not needed to append
# one row and move a lane's number.
_LANE = cast(Table, m.AuditLane.__table__)
_LANE_COLUMNS = (_LANE.c.id, _LANE.c.seq, _LANE.c.last_hash)
_FREE_LANE = (select(*_LANE_COLUMNS).where(_LANE.c.id <= LANES).order_by(_LANE.c.id).limit(1)
              .with_for_update(skip_locked=True))
_LANE_BY_ID = select(*_LANE_COLUMNS).where(_LANE.c.id == bindparam("lane_id"))
_MOVE_LANE = (update(_LANE).where(_LANE.c.id == bindparam("lane_id"))
              .values(seq=bindparam("new_seq"), last_hash=bindparam("new_hash")))
_APPEND = insert(cast(Table, m.AuditEvent.__table__))


def _locked_lane(uow: UnitOfWork) -> _Lane:
    """A lane locked for this transaction: the one it already holds, else a free one (SKIP LOCKED on
    PostgreSQL), else (all busy) one at random, waiting for it."""
    session = uow.session
    txn = session.get_transaction()
    held = session.info.get("dcc_audit_lane")
    if held is not None and txn is not None and held[0] is txn:
        row = session.execute(_LANE_BY_ID, {"lane_id": held[1]}).first()
        if row is not None:
            return _Lane(*row)
    row = session.execute(_FREE_LANE).first()
    if row is None:
        _insert_ignore(uow, _LANE, [{"id": i, "seq": 0, "last_hash": ""} for i in range(1, LANES + 1)])
        row = session.execute(_FREE_LANE).first()
    if row is None:
        row = session.execute(_LANE_BY_ID.with_for_update(), {"lane_id": random.randint(1, LANES)}).one()
    lane = _Lane(*row)
    session.info["dcc_audit_lane"] = (session.get_transaction(), lane.id)
    return lane


def record_audit(uow: UnitOfWork, *, actor: str, action: str, entity: str, entity_id: str,
                 patient_id: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append an entry to the audit log, in the caller's transaction (its lane's next number and hash)."""
    record_audits(uow, actor=actor, action=action, entity=entity, entity_id=entity_id, patient_ids=[patient_id],
                  detail=detail)


def record_audits(uow: UnitOfWork, *, actor: str, action: str, entity: str, entity_id: str,
                  patient_ids: list[str | None], detail: dict[str, Any] | None = None) -> None:
    """Append one entry per patient of `patient_ids` (the same action), in the caller's transaction: the entries
    take the lane's next numbers in that order, each hash chained to the one before, in one lock of the lane,
    one insert (executemany) and one move of the lane, whatever their number (a session's agenda names a
    dozen patients)."""
    if patient_ids:
        _append(uow, _items(actor=actor, action=action, entity=entity, entity_id=entity_id,
                            patient_ids=patient_ids, detail=detail))


def _items(*, actor: str, action: str, entity: str, entity_id: str, patient_ids: list[str | None],
           detail: dict[str, Any] | None) -> list[dict[str, Any]]:
    at, detail_ = m.utcnow(), detail or {}
    return [{"at": at, "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
             "patient_id": patient_id, "detail": detail_} for patient_id in patient_ids]


def _append(uow: UnitOfWork, items: list[dict[str, Any]]) -> None:
    """Write `items` (an entry's content fields each) in the caller's transaction, in that order, as the next
    entries of one lane."""
    if not uow.session.in_transaction():
        uow.begin_write()  # SQLite: take the write lock before reading the lane, not half-way
    lane = _locked_lane(uow)
    seq, last_hash = lane.seq, lane.last_hash
    rows: list[dict[str, Any]] = []
    for item in items:
        seq += 1
        entry = _Entry(**item, lane=lane.id, lane_seq=seq)
        last_hash = _lane_hash(last_hash, entry)
        # not asdict(): it deep-copies the detail
        rows.append({**item, "lane": lane.id, "lane_seq": seq, "prev_hash": "", "hash": "", "lane_hash": last_hash})
    uow.session.execute(_APPEND, rows if len(rows) > 1 else rows[0])
    uow.session.execute(_MOVE_LANE, {"lane_id": lane.id, "new_seq": seq, "new_hash": last_hash})


def record_audits_grouped(uow: UnitOfWork, *, actor: str, action: str, entity: str, entity_id: str,
                          patient_ids: list[str | None], detail: dict[str, Any] | None = None) -> None:
    """Append the entries as `record_audits` does, committed before this returns, in a write transaction
    shared with the other threads of this process that append at the same moment (`GroupAppender`); the
    caller's transaction is not used (end it first). Raises when the entries could not be written: the caller's
    action (a read) must then fail."""
    if patient_ids:
        group_appender(uow).append(_items(actor=actor, action=action, entity=entity, entity_id=entity_id,
                                          patient_ids=patient_ids, detail=detail))


class _Ticket:
    __slots__ = ("items", "event", "done", "error")

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.event = threading.Event()
        self.done = False
        self.error: BaseException | None = None


class GroupAppender:
    """Group commit of audit entries (SQLite, one per database and process).

    SQLite has one writer at a time: with a write transaction of its own for each audited read, every read
    queued for the write lock, held each time for BEGIN IMMEDIATE, the lane, the insert and the COMMIT (and
    under load for the interpreter lock between them). Here the thread that finds no write under way writes
    what is queued — its entries and those of the threads that arrive meanwhile — in one transaction, as the
    consecutive entries of one lane, in arrival order; the others wait until their entries are committed (or
    the write failed: each raises, and its read fails), then the first thread still waiting writes the next
    group. Each caller returns only once its own entries are committed: "no trace, no data" is unchanged.
    A caller whose entries no writer took within `wait_s` gives up (`DatabaseBusy`, 503) with nothing written.
    """

    def __init__(self, new_uow: Callable[[], UnitOfWork], *, wait_s: float) -> None:
        self._new_uow = new_uow
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._writing = False
        self.groups = 0  # transactions written (tests, figures)

    def append(self, items: list[dict[str, Any]]) -> None:
        ticket = _Ticket(items)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._writing
            self._writing = True
        if not lead and not ticket.event.wait(self.wait_s):
            with self._lock:
                queued = not ticket.event.is_set() and ticket in self._queue
                if queued:  # neither written nor handed the next write: give up
                    self._queue.remove(ticket)
                    raise DatabaseBusy()
            # a writer took it into the group it is writing (its write is bounded by the busy and pool
            # timeouts): wait for that outcome, so the read fails only if its entries were not written
            ticket.event.wait()
        if not ticket.done:  # this thread writes the next group
            with self._lock:
                group, self._queue = self._queue, []
            try:
                self._write(group)
            finally:
                with self._lock:
                    if self._queue:
                        self._queue[0].event.set()  # the first one waiting writes the next group
                    else:
                        self._writing = False
        if ticket.error is not None:
            raise ticket.error

    def _write(self, group: list[_Ticket]) -> None:
        error: BaseException | None = None
        try:
            with self._new_uow() as uow:
                uow.begin_write()
                _append(uow, [item for ticket in group for item in ticket.items])
                uow.commit()
            self.groups += 1
        except BaseException as exc:
            error = exc
        for ticket in group:
            ticket.error, ticket.done = error, True
            ticket.event.set()


_APPENDERS_LOCK = threading.Lock()


def group_appender(uow: UnitOfWork) -> GroupAppender:
    """The database's group appender in this process (created on first use)."""
    appender: GroupAppender | None = uow.shared.get("audit_appender")
    if appender is None:
        from dcc.config import get_settings

        s = get_settings()
        with _APPENDERS_LOCK:
            appender = uow.shared.get("audit_appender")
            if appender is None:
                # a group waits at most for the write under way, then for its own: each bounded by the busy
                # timeout (the write lock) and the pool timeout (a connection)
                wait_s = 2 * (s.db_busy_timeout_ms / 1000 + s.db_pool_timeout_s)
                appender = uow.shared["audit_appender"] = GroupAppender(uow.fresh, wait_s=wait_s)
    return appender


def record_refused_changes(engine: Engine, actor: str, attempts: list[dict[str, Any]]) -> None:
    """One audit entry per refused change of a signed document, in a transaction of its own (the refused
    one was rolled back). dcc.bootstrap wires this as the ORM guard's refusal recorder."""
    with UnitOfWork(lambda: Session(engine)) as uow:
        for a in attempts:
            record_audit(uow, actor=actor, action="document.immutable_refused", entity="document",
                         entity_id=a["document_id"] or "?", patient_id=a["patient_id"],
                         detail={k: a[k] for k in DETAIL_KEYS})
        uow.commit()


# ------------------------------------------------------------------------------------------- sealer


_EVENT = cast(Table, m.AuditEvent.__table__)
_PENDING = (select(_EVENT.c.id, _EVENT.c.at, _EVENT.c.actor, _EVENT.c.action, _EVENT.c.entity, _EVENT.c.entity_id,
                   _EVENT.c.patient_id, _EVENT.c.detail, _EVENT.c.lane, _EVENT.c.lane_seq, _EVENT.c.lane_hash)
            .where(_EVENT.c.seal_seq.is_(None)).order_by(_EVENT.c.id).limit(bindparam("batch")))
_SEAL = (update(_EVENT).where(_EVENT.c.id == bindparam("s_id"))
         .values(prev_hash=bindparam("s_prev"), hash=bindparam("s_hash"), seal_seq=bindparam("s_seq")))


def _locked_head(uow: UnitOfWork) -> m.AuditHead | None:
    """The head row locked for this sealer; None when another sealer holds it (PostgreSQL)."""
    q = select(m.AuditHead).where(m.AuditHead.id == HEAD_ID)
    head = uow.session.scalars(q.with_for_update(skip_locked=True)).one_or_none()
    if head is None:
        _insert_ignore(uow, m.AuditHead.__table__, [{"id": HEAD_ID, "last_id": 0, "last_hash": "", "count": 0}])
        head = uow.session.scalars(q.with_for_update(skip_locked=True)).one_or_none()
    return head


def seal_pending(uow: UnitOfWork, *, batch: int = SEAL_BATCH) -> int:
    """Chain the unsealed entries (at most `batch`, in id order) after the head, in one short write
    transaction; commits. Returns how many were sealed (0 when another sealer holds the head)."""
    uow.begin_write()
    head = _locked_head(uow)
    if head is None:
        uow.rollback()
        return 0
    pending = uow.session.execute(_PENDING, {"batch": batch}).all()
    sealed: list[dict[str, Any]] = []
    for ev in pending:
        prev, seq = head.last_hash, head.count + 1
        digest = _entry_hash(prev, ev)  # type: ignore[arg-type]  # a row with the entry's columns
        sealed.append({"s_id": ev.id, "s_prev": prev, "s_hash": digest, "s_seq": seq})
        head.last_id, head.last_hash, head.count = ev.id, digest, seq
    if sealed:
        uow.session.execute(_SEAL, sealed)  # one executemany, not one ORM update per entry
    uow.commit()
    return len(pending)


def seal_all(database: Database) -> int:
    """Seal until nothing is pending (each batch in its own transaction)."""
    total = 0
    while True:
        with database.uow() as uow:
            n = seal_pending(uow)
        total += n
        if n < SEAL_BATCH:
            return total


class Sealer:
    """A thread of the web process that only seals, every `interval` seconds, until `stop()`."""

    def __init__(self, database: Database, interval: float) -> None:
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dcc-audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                seal_all(self.database)
            except Exception:  # a busy database or a lost connection: the next round retries
                log.warning("audit sealing postponed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        try:
            seal_all(self.database)  # what the last requests wrote
        except Exception:
            log.warning("audit sealing at shutdown failed; the next sealer will seal", exc_info=True)


# ------------------------------------------------------------------------------------------- verify


def verify_chain(uow: UnitOfWork) -> list[str]:
    """French descriptions of every break in the chain and in the lanes (empty when intact).

    Reads one snapshot (REPEATABLE READ on PostgreSQL, a read transaction on SQLite), so that it can run
    while the application writes."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = session.get(m.AuditHead, HEAD_ID)
    lanes = {lane.id: lane for lane in session.scalars(select(m.AuditLane)).all()}
    events = list(session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id)).all())
    problems: list[str] = []

    sealed = sorted((ev for ev in events if ev.seal_seq is not None), key=lambda ev: (ev.seal_seq, ev.id))
    prev = ""
    for ev in sealed:
        if ev.prev_hash != prev:
            problems.append(f"Entrée {ev.id} : chaînage rompu (entrée précédente modifiée, supprimée ou déplacée).")
        if _entry_hash(ev.prev_hash, ev) != ev.hash:
            problems.append(f"Entrée {ev.id} : contenu modifié.")
        prev = ev.hash
    if head is not None:
        last = sealed[-1] if sealed else None
        if len(sealed) != head.count:
            problems.append(f"Le journal compte {len(sealed)} entrée(s) alors que {head.count} ont été écrites "
                            "(entrées supprimées, en fin de journal ou ailleurs).")
        if (last.id if last else 0) != head.last_id or (last.hash if last else "") != head.last_hash:
            problems.append(f"La dernière entrée ne correspond pas à la tête du journal (entrée {head.last_id} "
                            "attendue) : journal tronqué ou dernière entrée modifiée.")
    elif sealed:
        problems.append("La tête du journal a disparu alors que des entrées sont scellées.")

    by_lane: dict[int, list[m.AuditEvent]] = {}
    for ev in events:
        if ev.lane is None:
            if ev.seal_seq is None:
                problems.append(f"Entrée {ev.id} : ni scellée ni numérotée dans une voie d'écriture.")
            continue
        by_lane.setdefault(ev.lane, []).append(ev)
    for lane_id in sorted(set(by_lane) | set(lanes)):
        entries = sorted(by_lane.get(lane_id, []), key=lambda ev: (ev.lane_seq or 0, ev.id))
        lane = lanes.get(lane_id)
        if lane is None:
            problems.append(f"Voie d'écriture {lane_id} inconnue (entrées {', '.join(str(e.id) for e in entries)}) "
                            ": voie supprimée.")
            continue
        prev, expected, last_id = "", 1, 0
        for ev in entries:
            if (ev.lane_seq or 0) > lane.seq:
                continue  # written after the lane was read (another transaction, same verification)
            if ev.lane_seq != expected:
                problems.append(f"Entrée {ev.id} : numéro {ev.lane_seq} dans la voie {lane_id} alors que le "
                                f"{expected} était attendu (entrée supprimée ou déplacée).")
            if _lane_hash(prev, ev) != ev.lane_hash:
                problems.append(f"Entrée {ev.id} : contenu modifié ou entrée précédente de la voie {lane_id} "
                                "modifiée, supprimée ou déplacée.")
            if ev.id < last_id:
                problems.append(f"Entrée {ev.id} : déplacée (voie {lane_id}, numéro {ev.lane_seq}).")
            prev, expected, last_id = ev.lane_hash, (ev.lane_seq or 0) + 1, ev.id
        if expected - 1 != lane.seq or prev != lane.last_hash:
            problems.append(f"Voie d'écriture {lane_id} : {lane.seq} entrée(s) écrites, la dernière présente "
                            f"est la n° {expected - 1} : entrées supprimées en fin de voie (journal tronqué) ou "
                            "dernière entrée modifiée.")
    return problems


def pending_count(uow: UnitOfWork) -> int:
    """Entries written but not yet sealed into the chain."""
    from sqlalchemy import func

    return int(uow.session.scalar(select(func.count()).select_from(m.AuditEvent)
                                  .where(m.AuditEvent.seal_seq.is_(None))) or 0)
