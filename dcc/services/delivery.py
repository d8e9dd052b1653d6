"""Outbox dispatcher: deliver each signed document exactly once (effect), with leases, retries, dead letters.

Delivery state lives in our database, never in Prefect's run state. A dispatcher claims due messages under
a time-limited lease (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE and a conditional
update), sends outside any transaction, then records the attempt and the new state only if it still
holds the lease. The document's uniqueId and bytes are frozen at signature, so a retry after an
ambiguous failure is byte-identical and the national record deduplicates it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update

from dcc.adapters.db import models as m
from dcc.domain.ports import Submission, Transport
from dcc.errors import DeliveryError
from dcc.logging import get_logger
from dcc.services.audit import record_audit
from dcc.services.uow import Database, UnitOfWork

OM = m.OutboxMessage
log = get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 1.0
    max_s: float = 300.0
    lease_s: int = 60

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))
        jittered = backoff * (0.5 + rng.random() / 2)  # "equal jitter"
        return max(jittered, retry_after or 0.0)


@dataclass
class DispatchStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    skipped_open_circuit: int = 0
    attempts: int = 0


@dataclass
class CircuitBreaker:
    """Per destination: after `threshold` consecutive transient failures, pause it for `cooldown_s`."""

    threshold: int = 5
    cooldown_s: float = 10.0
    failures: dict[str, int] = field(default_factory=dict)
    open_until: dict[str, float] = field(default_factory=dict)

    def allows(self, destination: str) -> bool:
        return time.monotonic() >= self.open_until.get(destination, 0.0)

    def success(self, destination: str) -> None:
        self.failures[destination] = 0

    def failure(self, destination: str) -> None:
        self.failures[destination] = self.failures.get(destination, 0) + 1
        if self.failures[destination] >= self.threshold:
            self.open_until[destination] = time.monotonic() + self.cooldown_s
            self.failures[destination] = 0


def claim(db: Database, *, owner: str, now: datetime, limit: int, lease_s: int,
          skip_destinations: frozenset[str] = frozenset()) -> list[str]:
    """Claim up to `limit` due messages under a lease; returns their ids."""
    due = and_(OM.state == "pending", OM.next_attempt_at <= now,
               or_(OM.lease_until.is_(None), OM.lease_until < now))
    if skip_destinations:
        due = and_(due, OM.destination.not_in(list(skip_destinations)))
    lease_until = now + timedelta(seconds=lease_s)
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.connect() as conn:
        if sqlite:
            conn.info["dcc_begin"] = "IMMEDIATE"  # take the write lock before reading: no double claim
        with conn.begin():
            q = select(OM.id).where(due).order_by(OM.next_attempt_at, OM.id).limit(limit)
            if not sqlite:
                q = q.with_for_update(skip_locked=True)
            ids = list(conn.scalars(q).all())
            claimed = []
            for id_ in ids:
                res = conn.execute(update(OM).where(OM.id == id_, due)
                                   .values(lease_owner=owner, lease_until=lease_until))
                if res.rowcount == 1:
                    claimed.append(id_)
    return claimed


def reconcile_leases(db: Database, *, now: datetime) -> int:
    """Release expired leases (a dispatcher died mid-flight); the messages become due again."""
    with db.uow() as uow:
        res = uow.session.execute(update(OM).where(OM.state == "pending", OM.lease_until.is_not(None),
                                                   OM.lease_until < now)
                                  .values(lease_owner=None, lease_until=None))
        uow.commit()
        return int(res.rowcount or 0)  # type: ignore[attr-defined]


def _submission(uow: UnitOfWork, msg: m.OutboxMessage) -> Submission:
    doc = uow.session.get(m.Document, msg.document_id)
    assert doc is not None
    replaces = uow.session.get(m.Document, doc.replaces_id) if doc.replaces_id else None
    return Submission(unique_id=doc.unique_id, cda=doc.cda, pdf=doc.pdf, kind=doc.kind,
                      extra_confidentiality=(), replaces_unique_id=replaces.unique_id if replaces else None)


def _finish(db: Database, *, msg_id: str, owner: str, outcome: str, status_code: int | None, error_code: str,
            excerpt: str, policy: RetryPolicy, retry_after: float | None, rng: random.Random,
            clock: Callable[[], datetime]) -> str:
    """Record the attempt and the new state, if we still hold the lease. Returns the new state."""
    with db.uow() as uow:
        msg = uow.session.get(OM, msg_id)
        assert msg is not None
        now = clock()
        uow.session.add(m.DeliveryAttempt(message_id=msg.id, destination=msg.destination, at=now, outcome=outcome,
                                          status_code=status_code, error_code=error_code, excerpt=excerpt[:2000]))
        if msg.lease_owner != owner or msg.state != "pending":
            uow.commit()  # lost the lease: keep the attempt row, leave the state to the new owner
            return msg.state
        msg.attempts += 1
        msg.lease_owner, msg.lease_until = None, None
        if outcome == "delivered":
            msg.state, msg.delivered_at, msg.last_error = "delivered", now, ""
            doc = uow.session.get(m.Document, msg.document_id)
            assert doc is not None
            if doc.status == "signed":
                doc.status = "delivered"
            record_audit(uow, actor="dispatcher", action="document.deliver", entity="document",
                         entity_id=doc.id, patient_id=doc.patient_id, detail={"destination": msg.destination})
        elif outcome == "permanent" or msg.attempts >= policy.max_attempts:
            msg.state, msg.last_error = "dead", excerpt[:2000]
        else:
            msg.last_error = excerpt[:2000]
            msg.next_attempt_at = now + timedelta(seconds=policy.delay(msg.attempts, retry_after, rng))
        uow.commit()
        log.info("delivery.attempt", message_id=msg.id, destination=msg.destination, outcome=outcome,
                 status_code=status_code, error_code=error_code, attempts=msg.attempts, state=msg.state)
        return msg.state


def dispatch_pending(db: Database, *, transports: Mapping[str, Transport], policy: RetryPolicy | None = None,
                     owner: str | None = None, batch: int = 20, until_idle: bool = True,
                     max_seconds: float = 120.0, breaker: CircuitBreaker | None = None,
                     clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                     sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> DispatchStats:
    """Deliver due messages. With `until_idle`, keep going (sleeping until the next due retry) until no
    pending message is left or `max_seconds` have passed."""
    policy = policy or RetryPolicy()
    owner = owner or f"dispatcher-{uuid.uuid4().hex[:8]}"
    breaker = breaker or CircuitBreaker()
    rng = random.Random(seed)
    stats = DispatchStats()
    started = time.monotonic()
    while True:
        now = clock()
        closed = frozenset(dst for dst in transports if not breaker.allows(dst))
        ids = claim(db, owner=owner, now=now, limit=batch, lease_s=policy.lease_s, skip_destinations=closed)
        for msg_id in ids:
            with db.uow() as uow:
                msg = uow.session.get(OM, msg_id)
                assert msg is not None
                destination = msg.destination
                submission = _submission(uow, msg)
            transport = transports.get(destination)
            stats.attempts += 1
            if transport is None:
                state = _finish(db, msg_id=msg_id, owner=owner, outcome="permanent", status_code=None,
                                error_code="destination_inconnue", excerpt=f"Destination inconnue : {destination}",
                                policy=policy, retry_after=None, rng=rng, clock=clock)
                stats.dead += 1
                continue
            try:
                result = transport.submit(submission)
            except DeliveryError as exc:
                outcome = "permanent" if exc.permanent else "transient"
                if not exc.permanent:
                    breaker.failure(destination)
                state = _finish(db, msg_id=msg_id, owner=owner, outcome=outcome, status_code=exc.status,
                                error_code=exc.error_code, excerpt=exc.message, policy=policy,
                                retry_after=exc.retry_after, rng=rng, clock=clock)
                if state == "dead":
                    stats.dead += 1
                else:
                    stats.retried += 1
                continue
            breaker.success(destination)
            _finish(db, msg_id=msg_id, owner=owner, outcome="delivered", status_code=result.status_code,
                    error_code="", excerpt=result.excerpt, policy=policy, retry_after=None, rng=rng, clock=clock)
            stats.delivered += 1
        if ids:
            continue
        if not until_idle or time.monotonic() - started > max_seconds:
            return stats
        next_due = _next_due(db)
        if next_due is None:
            return stats
        wait = (next_due - clock()).total_seconds()
        sleep(min(max(wait, 0.05), 2.0))


def _next_due(db: Database) -> datetime | None:
    with db.uow() as uow:
        q = select(OM.next_attempt_at).where(OM.state == "pending").order_by(OM.next_attempt_at).limit(1)
        return uow.session.scalars(q).first()


def requeue(uow: UnitOfWork, *, message_id: str, actor: str, now: datetime | None = None) -> None:
    """A coordinator requeues a dead letter after fixing its cause (audited)."""
    from dcc.errors import Conflict, NotFound

    msg = uow.session.get(OM, message_id)
    if msg is None:
        raise NotFound(f"Envoi « {message_id} » introuvable.")
    if msg.state != "dead":
        raise Conflict("Seul un envoi en échec définitif (lettre morte) peut être relancé.")
    msg.state, msg.attempts, msg.next_attempt_at = "pending", 0, now or datetime.now(UTC)
    msg.lease_owner, msg.lease_until = None, None
    record_audit(uow, actor=actor, action="delivery.requeue", entity="outbox_message", entity_id=message_id)
    uow.commit()
