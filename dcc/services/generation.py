"""Durable document generation: the "documents due" queue, drained like the delivery outbox.

The validation of a quorate session writes one `GenerationTask` row per decided case in its own transaction
(dcc.services.boards.validate_session): the row, not a background task of the web process nor Prefect's run
state, says that documents are due. `generate_pending_documents` drains the rows (the Prefect flow of the same
name, the demo and `dcc documents drain` call it):

- claim: due rows (pending and due, or leased with an expired lease: reconciliation) are leased to one drain
  (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite ignores it: BEGIN IMMEDIATE takes the write lock before the
  read, and each update is conditional). Each claim counts as an attempt, so a case whose drains keep dying
  still ends in the dead letter;
- generate: the existing use case (`dcc.services.documents.generate_documents`), idempotent: a case that has
  its documents is not generated again (a drain that died after the documents' commit leaves a row that the
  next drain closes without a second document);
- finish, only while still holding the lease: `done`; a refusal a person must fix (missing data, no quorum)
  goes to the dead letter at once with its French reason; an unexpected error is retried with exponential
  backoff, then goes to the dead letter after `max_attempts`.

Dead letters are listed in a monitor's or coordinator's scope and may be requeued (audited).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update

from dcc.adapters.db import models as m
from dcc.domain.clock import now_utc
from dcc.domain.ports import CdaBuilder, PdfRenderer
from dcc.domain.states import GenerationState, advance
from dcc.errors import Conflict, NotFound
from dcc.logging import get_logger
from dcc.services import access
from dcc.services.audit import record_audit
from dcc.services.content import Loader
from dcc.services.delivery import _write_uow
from dcc.services.documents import generate_documents
from dcc.services.uow import Database, UnitOfWork

GT = m.GenerationTask
G = GenerationState
log = get_logger(__name__)

# Crash points of a drain, reported to `probe` (tests stop the drain there, as a killed worker would).
PROBE_POINTS = ("after_claim", "after_generate")


def reason_exhausted(attempts: int, last: str) -> str:
    return (f"Génération abandonnée après {attempts} tentative(s) : {last} Corrigez la cause puis relancez la "
            "génération.")


REASON_INTERRUPTED = ("La génération a été interrompue (arrêt du traitement en cours) : elle sera reprise.")


def reason_error(exc: BaseException) -> str:
    """French reason of an unexpected error; only the error's type (its message may quote clinical data)."""
    return f"Erreur interne pendant la génération ({type(exc).__name__})."


@dataclass(frozen=True)
class GenerationPolicy:
    max_attempts: int = 5
    lease_s: int = 300
    base_s: float = 30.0
    max_s: float = 1800.0

    def delay(self, attempts: int) -> float:
        return float(min(self.max_s, self.base_s * 2 ** max(0, attempts - 1)))


@dataclass
class DrainResult:
    generated: int = 0  # rows done, with new documents
    already: int = 0  # rows done whose case already had its documents (idempotent)
    retried: int = 0
    dead: int = 0
    reclaimed: int = 0  # expired leases released (reconciliation)
    lost_leases: int = 0
    created: list[str] = field(default_factory=list)  # document ids
    failures: dict[str, str] = field(default_factory=dict)  # case id -> French reason (retried or dead)

    def merge(self, other: DrainResult) -> None:
        for name in ("generated", "already", "retried", "dead", "reclaimed", "lost_leases"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.created.extend(other.created)
        self.failures.update(other.failures)

    def counts(self) -> dict[str, int]:
        return {"generated": self.generated, "already": self.already, "retried": self.retried, "dead": self.dead,
                "reclaimed": self.reclaimed, "lost_leases": self.lost_leases, "documents": len(self.created)}


# ------------------------------------------------------------------------------------------------ queue


def _due(now: datetime, max_attempts: int | None = None) -> ColumnElement[bool]:
    due = or_(and_(GT.state == G.PENDING.value, GT.next_attempt_at <= now),
              and_(GT.state == G.LEASED.value, GT.lease_until < now))  # a drain died: reclaimed
    return and_(due, GT.attempts < max_attempts) if max_attempts is not None else due


def reclaim_expired_leases(db: Database, *, now: datetime | None = None) -> int:
    """Reconciliation: rows whose drain died (lease expired) become pending again, due at once (their due
    time, already past, is kept: they come first)."""
    now = now or now_utc()
    with _write_uow(db) as uow:
        res = uow.session.execute(update(GT).where(GT.state == G.LEASED.value, GT.lease_until < now)
                                  .values(state=G.PENDING.value, lease_owner=None, lease_until=None,
                                          last_error=REASON_INTERRUPTED))  # still due (first in line)
        uow.commit()
    count = int(res.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        log.warning("generation.leases_reclaimed", count=count)
    return count


def release_leases_of(db: Database, owners: list[str]) -> int:
    """Reconciliation of drains known to be dead (Prefect marked their run crashed): their leased rows become
    pending again at once, without waiting for the lease to expire."""
    if not owners:
        return 0
    with _write_uow(db) as uow:
        res = uow.session.execute(update(GT).where(GT.state == G.LEASED.value, GT.lease_owner.in_(owners))
                                  .values(state=G.PENDING.value, lease_owner=None, lease_until=None,
                                          last_error=REASON_INTERRUPTED))
        uow.commit()
    count = int(res.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        log.warning("generation.leases_released", count=count)
    return count


def _bury_exhausted(db: Database, *, now: datetime, policy: GenerationPolicy) -> list[tuple[str, str]]:
    """Due rows that used up their attempts without finishing (their drains died): dead letters."""
    buried: list[tuple[str, str]] = []
    with _write_uow(db) as uow:
        q = select(GT).where(_due(now), GT.attempts >= policy.max_attempts)
        if db.engine.dialect.name != "sqlite":
            q = q.with_for_update(skip_locked=True)  # (SQLite: BEGIN IMMEDIATE)
        rows = uow.session.scalars(q).all()
        for task in rows:
            reason = reason_exhausted(task.attempts, task.last_error or REASON_INTERRUPTED)
            _to_dead(uow, task, reason)
            buried.append((task.case_id, reason))
        if rows:
            uow.commit()
    return buried


def claim(db: Database, *, owner: str, now: datetime, limit: int, policy: GenerationPolicy) -> list[str]:
    """Lease up to `limit` due rows to `owner` (each claim counts as an attempt); returns their ids."""
    due = _due(now, policy.max_attempts)
    lease_until = now + timedelta(seconds=policy.lease_s)
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.connect() as conn:
        if sqlite:
            conn.info["dcc_begin"] = "IMMEDIATE"  # the write lock before the read: no double claim
        with conn.begin():
            q = select(GT.id).where(due).order_by(GT.next_attempt_at, GT.created_at, GT.id).limit(limit)
            if not sqlite:
                q = q.with_for_update(skip_locked=True)
            claimed = []
            for id_ in list(conn.scalars(q).all()):
                res = conn.execute(update(GT).where(GT.id == id_, due).values(
                    state=G.LEASED.value, lease_owner=owner, lease_until=lease_until, attempts=GT.attempts + 1))
                if res.rowcount == 1:
                    claimed.append(id_)
    return claimed


def _renew(db: Database, *, task_id: str, owner: str, now: datetime, lease_s: int) -> str | None:
    """Renew our lease before generating; returns the case id, None when the lease was lost."""
    with _write_uow(db) as uow:
        res = uow.session.execute(update(GT).where(GT.id == task_id, GT.lease_owner == owner,
                                                   GT.state == G.LEASED.value)
                                  .values(lease_until=now + timedelta(seconds=lease_s)))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return None
        case_id = uow.session.scalar(select(GT.case_id).where(GT.id == task_id))
        uow.commit()
    return case_id


def _to_dead(uow: UnitOfWork, task: m.GenerationTask, reason: str, actor: str = "generation") -> None:
    advance(task, G.DEAD)
    task.last_error, task.lease_owner, task.lease_until = reason[:2000], None, None
    case = uow.session.get(m.Case, task.case_id)
    record_audit(uow, actor=actor, action="generation.dead", entity="case", entity_id=task.case_id,
                 patient_id=case.patient_id if case else None,
                 detail={"task_id": task.id, "attempts": task.attempts, "reason": reason[:500]})


def _finish(db: Database, *, task_id: str, owner: str, outcome: str, reason: str, policy: GenerationPolicy,
            clock: Callable[[], datetime]) -> tuple[str | None, str]:
    """Record the outcome (done | refused | error) if we still hold the lease; returns the new state (None
    when the lease was lost: the new owner decides) and the French reason recorded."""
    with _write_uow(db) as uow:
        task = uow.session.get(GT, task_id, with_for_update=True)
        assert task is not None
        if task.lease_owner != owner or task.state != G.LEASED.value:
            return None, reason
        now = clock()
        if outcome == "done":
            advance(task, G.DONE)
            task.done_at, task.last_error, task.lease_owner, task.lease_until = now, "", None, None
        elif outcome == "refused":
            _to_dead(uow, task, reason)
        elif task.attempts >= policy.max_attempts:
            _to_dead(uow, task, reason_exhausted(task.attempts, reason))
        else:
            advance(task, G.PENDING)
            delay = policy.delay(task.attempts)
            task.last_error = f"{reason} Nouvel essai prévu dans {delay:g} s (tentative {task.attempts + 1}"\
                f" sur {policy.max_attempts})."
            task.lease_owner, task.lease_until = None, None
            task.next_attempt_at = now + timedelta(seconds=delay)
        state, recorded = task.state, task.last_error
        uow.commit()
    log.info("generation.attempt", task_id=task_id, outcome=outcome, state=state)
    return state, recorded


# ------------------------------------------------------------------------------------------------ drain


def begin_drain(db: Database, *, policy: GenerationPolicy, clock: Callable[[], datetime] = now_utc) -> DrainResult:
    """What every drain does first: expired leases released, rows that used up their attempts buried."""
    out = DrainResult(reclaimed=reclaim_expired_leases(db, now=clock()))
    for case_id, reason in _bury_exhausted(db, now=clock(), policy=policy):
        out.dead += 1
        out.failures[case_id] = reason
    return out


def generate_pending_documents(db: Database, *, cda: CdaBuilder, pdf: PdfRenderer,
                               policy: GenerationPolicy | None = None, limit: int = 500, batch: int = 5,
                               owner: str | None = None, clock: Callable[[], datetime] = now_utc,
                               probe: Callable[[str, str], None] | None = None) -> DrainResult:
    """Generate the documents of due rows (at most `limit` rows this run); safe to run in several processes at
    once. Rows are claimed `batch` at a time: few enough that when the queue runs dry, the drains running
    side by side finish within a document or two of each other. `probe(point, task_id)` is called at
    PROBE_POINTS (tests only)."""
    policy = policy or GenerationPolicy()
    owner = owner or f"generation-{uuid.uuid4().hex[:8]}"
    out = begin_drain(db, policy=policy, clock=clock)
    done = 0
    while done < limit:
        claimed_at = clock()
        ids = claim(db, owner=owner, now=claimed_at, limit=min(batch, limit - done), policy=policy)
        if not ids:
            break
        done += len(ids)
        generate_claimed(db, ids, owner=owner, cda=cda, pdf=pdf, policy=policy, clock=clock, probe=probe, out=out,
                         leased_until=claimed_at + timedelta(seconds=policy.lease_s))
    return out


def generate_claimed(db: Database, task_ids: list[str], *, owner: str, cda: CdaBuilder, pdf: PdfRenderer,
                     policy: GenerationPolicy, clock: Callable[[], datetime] = now_utc,
                     probe: Callable[[str, str], None] | None = None, out: DrainResult | None = None,
                     leased_until: datetime | None = None) -> DrainResult:
    """Generate the rows `owner` claimed (one case per unit of work, the lease checked after); may run in
    another process than the claim (a Dask worker): only ids cross. `leased_until`: when the claim's lease
    ends, if the caller just claimed: while more than half the lease is left, a row is generated without
    renewing it first (a transaction saved per document; the finish still checks the lease is ours), else it
    is renewed before (always, without `leased_until`)."""
    out = out if out is not None else DrainResult()
    cases: dict[str, str] = {}
    if leased_until is not None:
        with db.uow() as uow:
            cases = dict(uow.session.execute(select(GT.id, GT.case_id).where(GT.id.in_(task_ids))).tuples().all())
    shared = _SharedLoader(db)  # one unit of work and content loader for the batch: its caches serve each case
    try:
        for task_id in task_ids:
            _drain_one(db, task_id=task_id, owner=owner, cda=cda, pdf=pdf, policy=policy, clock=clock, probe=probe,
                       out=out, known_case=cases.get(task_id), leased_until=leased_until, shared=shared)
    finally:
        shared.close()
    return out


class _SharedLoader:
    """The unit of work and content loader the rows of one claimed batch are generated in (each case still
    commits on its own); renewed after a refusal or an error, as generate_documents does."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.uow: UnitOfWork | None = None
        self.loader: Loader | None = None

    def get(self) -> tuple[UnitOfWork, Loader]:
        if self.uow is None or self.loader is None:
            self.uow = self.db.uow().__enter__()
            self.loader = Loader(self.uow)
        return self.uow, self.loader

    def close(self) -> None:
        if self.uow is not None:
            uow, self.uow, self.loader = self.uow, None, None
            uow.__exit__(None, None, None)


def _drain_one(db: Database, *, task_id: str, owner: str, cda: CdaBuilder, pdf: PdfRenderer,
               policy: GenerationPolicy, clock: Callable[[], datetime],
               probe: Callable[[str, str], None] | None, out: DrainResult, shared: _SharedLoader,
               known_case: str | None = None, leased_until: datetime | None = None) -> None:
    if probe:
        probe("after_claim", task_id)
    fresh = leased_until is not None and (leased_until - clock()).total_seconds() > policy.lease_s / 2
    case_id = known_case if fresh else _renew(db, task_id=task_id, owner=owner, now=clock(), lease_s=policy.lease_s)
    if case_id is None:
        out.lost_leases += 1
        return
    created: list[str] = []
    try:
        uow, loader = shared.get()
        result = generate_documents(uow, case_ids=[case_id], cda=cda, pdf=pdf, loader=loader)
        if result.refused:
            shared.close()
    except Exception as exc:  # a rendering or database error: retried, then a dead letter
        shared.close()
        # no traceback: its frames hold the document's clinical content (logs never carry patient data)
        log.error("generation.error", task_id=task_id, error=type(exc).__name__)
        outcome, reason = "error", reason_error(exc)
    else:
        refused = result.refused.get(case_id)
        outcome, reason = ("refused", refused) if refused is not None else ("done", "")
        created = list(result.created)
    if probe:
        probe("after_generate", task_id)
    state, reason = _finish(db, task_id=task_id, owner=owner, outcome=outcome, reason=reason, policy=policy,
                            clock=clock)
    out.created.extend(created)  # committed by generate_documents, whoever finishes the row
    if state is None:
        out.lost_leases += 1
    elif state == G.DONE:
        if created:
            out.generated += 1
        else:
            out.already += 1
    elif state == G.DEAD:
        out.dead += 1
        out.failures[case_id] = reason
    else:
        out.retried += 1
        out.failures[case_id] = reason


def pending_count(uow: UnitOfWork) -> int:
    """Rows not finished yet (pending or leased)."""
    return int(uow.session.scalar(select(func.count()).select_from(GT)
                                  .where(GT.state.in_([G.PENDING.value, G.LEASED.value]))) or 0)


def mark_generated(uow: UnitOfWork, case_id: str) -> None:
    """A case got its documents another way (regeneration after its data was completed): its dead letter, if
    any, is closed (the caller commits)."""
    task = uow.session.scalars(select(GT).where(GT.case_id == case_id)).first()
    if task is not None and task.state == G.DEAD.value:
        advance(task, G.DONE)
        task.done_at, task.last_error = now_utc(), ""


# ---------------------------------------------------------------------------------------- dead letters


@dataclass(frozen=True)
class DeadLetter:
    task_id: str
    case_id: str
    board_name: str
    registration_number: str
    attempts: int
    reason: str
    created_at: datetime


def _scope(user: access.User) -> ColumnElement[bool]:
    if user.role not in ("monitor", "coordinator", "admin"):
        return false()
    return GT.board_id.in_(select(m.Board.id).where(access.board_filter(user)))


def dead_letters(uow: UnitOfWork, user: access.User, *, limit: int = 100) -> list[DeadLetter]:
    """The generation dead letters of the boards the user follows (monitor: region; coordinator: their
    boards); no clinical field, only the case's registration number and the French reason."""
    rows = uow.session.execute(
        select(GT, m.Board.name, m.Case.registration_number)
        .join(m.Board, m.Board.id == GT.board_id).join(m.Case, m.Case.id == GT.case_id)
        .where(GT.state == G.DEAD.value, _scope(user)).order_by(GT.created_at.desc(), GT.id).limit(limit)).all()
    return [DeadLetter(task_id=t.id, case_id=t.case_id, board_name=name, registration_number=number or "",
                       attempts=t.attempts, reason=t.last_error, created_at=t.created_at)
            for t, name, number in rows]


def requeue(uow: UnitOfWork, user: access.User, *, task_id: str, now: datetime | None = None) -> None:
    """A coordinator of the board (or an admin) requeues a dead letter after fixing its cause (audited)."""
    if user.role not in ("coordinator", "admin"):
        raise access.AccessDenied("Seul le coordinateur de la RCP peut relancer la génération des documents.")
    task = uow.session.scalars(select(GT).where(GT.id == task_id, _scope(user))).first()
    if task is None:
        raise NotFound(f"Génération « {task_id} » introuvable.")
    if task.state != G.DEAD.value:
        raise Conflict("Seule une génération en échec définitif (lettre morte) peut être relancée.")
    case = uow.session.get(m.Case, task.case_id)
    advance(task, G.PENDING)
    record_audit(uow, actor=user.login, action="generation.requeue", entity="case", entity_id=task.case_id,
                 patient_id=case.patient_id if case else None,
                 detail={"task_id": task.id, "last_error": task.last_error[:500]})
    task.attempts, task.next_attempt_at, task.lease_owner, task.lease_until = 0, now or now_utc(), None, None
    uow.commit()

