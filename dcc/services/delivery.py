"""Outbox dispatcher: deliver each signed document exactly once (effect), with leases, retries, dead letters.

Delivery state lives in our database, never in Prefect's run state. A dispatcher claims due messages under
a time-limited lease (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE and a conditional
update), then for each message, just before sending it, renews the lease, re-checks consent and identity
and freezes what will be sent; it sends outside any transaction, then records the attempt (its own row:
owner, start, end, outcome, status, error code, excerpt) and the new state only if it still holds the
lease. Recording one message's attempt and preparing the next claimed one share one short transaction:
one transaction per message, the checks still made right before each send. The document's uniqueId and
bytes are frozen at signature and the extra confidentiality codes at the first attempt, so a retry after an
ambiguous failure is byte-identical and the national record deduplicates it.

Message kinds: `submit` (the document itself) and `metadata_update` (visibility to the patient after the
announcement consultation, masking from professionals: same uniqueId, no resubmission).

States: `pending` (due at `next_attempt_at`, possibly leased), `delivered`, `dead` (dead letter: permanent
error, or too many transient ones; a coordinator may requeue it), `held` (waiting for a cause to go away:
identity not qualified, initial submission not delivered, metadata update not supported by the transport;
re-checked on every dispatch pass) and `blocked` (the patient opposes feeding the national record: never
sent there; the secure-messaging copy to the GP and correspondents is not concerned). The reason of
`held` / `blocked` is in `hold_reason` (and `last_error`, shown by the API), in French.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Result, and_, func, or_, select, update
from sqlalchemy.orm import Session

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.ports import NationalRecord, Submission, SubmitOutcome, Transport
from dcc.domain.states import DocumentStatus, OutboxState, advance
from dcc.errors import DeliveryError
from dcc.logging import get_logger
from dcc.services.audit import record_audit
from dcc.services.uow import Database, UnitOfWork

OM = m.OutboxMessage
log = get_logger(__name__)

SUBMIT = "submit"
METADATA_UPDATE = "metadata_update"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
MASQUE_PS = "MASQUE_PS"
# TRE_A07 / JDV_J08 (1.2.250.1.213.1.1.4.13): DMP integration guide EX_2.1-1050, a minor's document says whether
# it is visible to the legal representatives; sent when the minor asked for the secret (CSP art. L1111-5)
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"

DMP_PREFIX = "dmp:"  # national-record destinations ("mss:<region>": secure messaging to the care team)
MSS_PREFIX = "mss:"


def region_destinations(regions: frozenset[str]) -> frozenset[str]:
    """The outbox destinations of these regions (national record and secure messaging): what a dispatcher
    scoped to them claims."""
    return frozenset(prefix + code for code in regions for prefix in (DMP_PREFIX, MSS_PREFIX))

REASON_OPPOSITION = ("Opposition du patient à l'alimentation de son DMP : le document n'y est pas déposé "
                     "(décision enregistrée, aucun dépôt ne sera tenté ; le médecin traitant et les "
                     "correspondants le reçoivent toujours par messagerie sécurisée).")
REASON_INS = ("Identité du patient non qualifiée (INS) : envoi au DMP suspendu jusqu'à la qualification "
              "de l'identité.")
REASON_WAIT_PREVIOUS = ("Nouvelle version en attente : la version qu'elle remplace n'est pas encore déposée "
                        "dans le DMP (elle le sera d'abord, puis celle-ci avec l'association de remplacement).")
REASON_WAIT_SUBMISSION = ("Mise à jour des métadonnées en attente : le document lui-même n'a pas encore été "
                          "déposé dans le DMP.")

# Crash points of the dispatcher, reported to `probe` (tests kill the process there).
PROBE_POINTS = ("after_claim", "after_send", "after_commit")


def _rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE (a CursorResult: Session.execute types it as the generic Result)."""
    assert isinstance(result, CursorResult)
    return result.rowcount or 0


def _reason_unsupported(destination: str, what: str) -> str:
    return (f"La mise à jour des métadonnées ({what}) n'est pas prise en charge par le transport "
            f"de « {destination} » : en attente, sans renvoi du document.")


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
    held: int = 0
    blocked: int = 0
    released: int = 0
    metadata_updates: int = 0
    lost_leases: int = 0


@dataclass
class CircuitBreaker:
    """Per destination: after `threshold` consecutive transient failures, pause it for `cooldown_s`; after
    the pause one trial goes through (half-open), and a failure then opens it again at once."""

    threshold: int = 5
    cooldown_s: float = 10.0
    failures: dict[str, int] = field(default_factory=dict)
    open_until: dict[str, float] = field(default_factory=dict)
    monotonic: Callable[[], float] = time.monotonic
    openings: int = 0

    def allows(self, destination: str) -> bool:
        return self.monotonic() >= self.open_until.get(destination, 0.0)

    def reopens_in(self, destinations: frozenset[str]) -> float | None:
        now = self.monotonic()
        waits = [self.open_until[d] - now for d in destinations if d in self.open_until]
        return max(0.0, min(waits)) if waits else None

    def success(self, destination: str) -> None:
        self.failures[destination] = 0
        self.open_until.pop(destination, None)

    def failure(self, destination: str) -> None:
        self.failures[destination] = self.failures.get(destination, 0) + 1
        half_open = destination in self.open_until  # opened before, no success since
        if half_open or self.failures[destination] >= self.threshold:
            self.open_until[destination] = self.monotonic() + self.cooldown_s
            self.failures[destination] = 0
            self.openings += 1
            log.warning("delivery.circuit_open", destination=destination, cooldown_s=self.cooldown_s)


# ------------------------------------------------------------------------------------------ transactions


@contextmanager
def _write_uow(db: Database) -> Iterator[UnitOfWork]:
    """A unit of work for a read-then-write transaction. On SQLite it takes the write lock at BEGIN
    (BEGIN IMMEDIATE): a deferred transaction upgrading from read to write fails at once with SQLITE_BUSY
    when another writer committed meanwhile, whatever the busy timeout."""
    if db.engine.dialect.name != "sqlite":
        with db.uow() as uow:
            yield uow
        return
    with db.engine.connect() as conn:
        conn.info["dcc_begin"] = "IMMEDIATE"
        with UnitOfWork(lambda: Session(bind=conn, expire_on_commit=False)) as uow:
            yield uow


def claim(db: Database, *, owner: str, now: datetime, limit: int, lease_s: int,
          skip_destinations: frozenset[str] = frozenset(), only_destinations: frozenset[str] | None = None
          ) -> list[str]:
    """Claim up to `limit` due messages under a lease (of `only_destinations` when given); returns their ids."""
    due = and_(OM.state == OutboxState.PENDING, OM.next_attempt_at <= now,
               or_(OM.lease_until.is_(None), OM.lease_until < now))
    if only_destinations is not None:
        due = and_(due, OM.destination.in_(sorted(only_destinations)))
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
        res = uow.session.execute(update(OM).where(OM.state == OutboxState.PENDING, OM.lease_until.is_not(None),
                                                   OM.lease_until < now)
                                  .values(lease_owner=None, lease_until=None))
        uow.commit()
        return int(_rowcount(res))


def release_leases_of(db: Database, owners: list[str]) -> int:
    """Release the leases of dispatchers known to be dead (Prefect marked their run crashed), without waiting
    for them to expire; the messages become due again. A message sent just before the crash is sent again with
    the same uniqueId and bytes: the national record stores it once."""
    if not owners:
        return 0
    with db.uow() as uow:
        res = uow.session.execute(update(OM).where(OM.state == OutboxState.PENDING, OM.lease_owner.in_(owners))
                                  .values(lease_owner=None, lease_until=None))
        uow.commit()
        return int(_rowcount(res))


OUTCOME_LABELS = {"transient": "échec temporaire (nouvel essai prévu)", "permanent": "échec définitif"}


def failures_of(uow: UnitOfWork, owner: str, limit: int = 200) -> list[dict[str, str]]:
    """The failed attempts of one dispatcher (a flow run): message, destination, French outcome and reason
    (the national record's or the relay's error as recorded; ids only, never patient data)."""
    rows = uow.session.scalars(select(m.DeliveryAttempt).where(m.DeliveryAttempt.owner == owner,
                                                               m.DeliveryAttempt.outcome != "delivered")
                               .order_by(m.DeliveryAttempt.at).limit(limit)).all()
    return [{"message_id": a.message_id, "destination": a.destination,
             "etat": OUTCOME_LABELS.get(a.outcome, a.outcome),
             "motif": a.excerpt[:300] or a.error_code or "non renseigné"} for a in rows]


# ------------------------------------------------------------------------------------ consent and identity


def desired_confidentiality(doc: m.Document, patient: m.Patient) -> tuple[str, ...]:
    """Extra JDV_J08 codes the document must carry now: invisible to the patient until the announcement
    consultation, masked from professionals when the patient asked, invisible to the legal representatives
    when the minor patient asked for the secret (recorded by services.consent.record_minor_secret)."""
    codes: list[str] = []
    if doc.announced_at is None:
        codes.append(INVISIBLE_PATIENT)
    if doc.masked_ps:
        codes.append(MASQUE_PS)
    if patient.secret_from_legal_representatives:
        codes.append(INVISIBLE_REPRESENTANTS_LEGAUX)
    return tuple(codes)


def _codes(frozen: str | None) -> tuple[str, ...]:
    return tuple((frozen or "").split())


@dataclass(frozen=True)
class _Decision:
    action: str  # send | hold | block | wait | done
    reason: str = ""
    until: datetime | None = None  # wait: when to look again
    visible: bool | None = None  # metadata update: new visibility to the patient, if it changes
    masked: bool | None = None  # metadata update: new masking, if it changes
    hidden_from_representatives: bool | None = None  # metadata update: a minor's secret, if it changes


def _submit_message(session: Session, msg: m.OutboxMessage) -> m.OutboxMessage | None:
    return session.scalars(select(OM).where(OM.document_id == msg.document_id,
                                            OM.destination == msg.destination, OM.kind == SUBMIT)).first()


def _gate(session: Session, msg: m.OutboxMessage, doc: m.Document, patient: m.Patient,
          transport: Transport | None, now: datetime) -> _Decision:
    """May this message be sent now? Consent and identity are checked at dispatch time, every time."""
    if patient.dmp_opposition and msg.destination.startswith(DMP_PREFIX):
        # the opposition is to feeding the national record; the board's report still goes to the care team
        # (the GP and correspondents, by MSSanté), as the RCP charters require
        return _Decision("block", REASON_OPPOSITION)
    if msg.kind == SUBMIT:
        if not patient.ins_qualified or not patient.ins_matricule:  # no INS (not yet retrieved): never sent
            return _Decision("hold", REASON_INS)
        if doc.replaces_id:  # a new version replaces (RPLC) the previous one: never before it is in place
            previous = session.scalars(select(OM).where(OM.document_id == doc.replaces_id,
                                                        OM.destination == msg.destination,
                                                        OM.kind == SUBMIT)).first()
            if previous is not None and previous.state == OutboxState.PENDING:
                return _Decision("wait", until=max(previous.next_attempt_at, now) + timedelta(seconds=1))
            if previous is not None and previous.state in (OutboxState.HELD, OutboxState.DEAD):
                return _Decision("hold", REASON_WAIT_PREVIOUS)
            if previous is not None and previous.state == OutboxState.BLOCKED:
                return _Decision("block", previous.hold_reason or REASON_OPPOSITION)
        return _Decision("send")
    submit = _submit_message(session, msg)
    if submit is None:
        return _Decision("done", "Aucun dépôt du document vers cette destination : mise à jour sans objet.")
    if submit.state == OutboxState.BLOCKED:
        return _Decision("block", submit.hold_reason or REASON_OPPOSITION)
    if submit.state != OutboxState.DELIVERED:
        if submit.state == OutboxState.PENDING:
            return _Decision("wait", until=max(submit.next_attempt_at, now) + timedelta(seconds=1))
        return _Decision("hold", REASON_WAIT_SUBMISSION)
    sent, wanted = _codes(submit.confidentiality), desired_confidentiality(doc, patient)
    visible = (INVISIBLE_PATIENT not in wanted) if (INVISIBLE_PATIENT in sent) != (INVISIBLE_PATIENT in wanted) \
        else None
    masked = (MASQUE_PS in wanted) if (MASQUE_PS in sent) != (MASQUE_PS in wanted) else None
    hidden = INVISIBLE_REPRESENTANTS_LEGAUX in wanted
    hidden_from_representatives = hidden if (INVISIBLE_REPRESENTANTS_LEGAUX in sent) != hidden else None
    if visible is None and masked is None and hidden_from_representatives is None:
        return _Decision("done", "Métadonnées du DMP déjà à jour.")
    if not isinstance(transport, NationalRecord):
        what = ("visibilité pour le patient" if visible is not None else "masquage aux professionnels"
                if masked is not None else "visibilité pour les représentants légaux")
        return _Decision("hold", _reason_unsupported(msg.destination, what))
    return _Decision("send", visible=visible, masked=masked, hidden_from_representatives=hidden_from_representatives)


def _park(uow: UnitOfWork, msg: m.OutboxMessage, doc: m.Document, state: str, reason: str, actor: str) -> None:
    """Hold or block a message (lease released), with its reason; audited when the state changes."""
    changed = msg.state != state or msg.hold_reason != reason
    advance(msg, OutboxState(state))
    msg.hold_reason, msg.last_error = reason, reason
    msg.lease_owner, msg.lease_until = None, None
    if changed:
        record_audit(uow, actor=actor, action=f"delivery.{'block' if state == 'blocked' else 'hold'}",
                     entity="outbox_message", entity_id=msg.id, patient_id=doc.patient_id,
                     detail={"destination": msg.destination, "kind": msg.kind, "reason": reason})


def release_held(db: Database, *, transports: Mapping[str, Transport], now: datetime | None = None,
                 actor: str = "dispatcher", only_destinations: frozenset[str] | None = None) -> int:
    """Re-check held messages (of `only_destinations` when given: another dispatcher holds the others'
    transports): release (due now) those whose cause is gone, block those of a patient who opposed meanwhile.
    Returns the number released."""
    now = now or datetime.now(UTC)
    held = OM.state == OutboxState.HELD
    if only_destinations is not None:
        held = and_(held, OM.destination.in_(sorted(only_destinations)))
    with db.uow() as uow:
        if not uow.session.scalar(select(func.count()).select_from(OM).where(held)):
            return 0
    released = 0
    with _write_uow(db) as uow:
        s = uow.session
        for msg in s.scalars(select(OM).where(held).order_by(OM.id)).all():
            doc = s.get(m.Document, msg.document_id)
            assert doc is not None
            patient = s.get(m.Patient, doc.patient_id)
            assert patient is not None
            decision = _gate(s, msg, doc, patient, transports.get(msg.destination), now)
            if decision.action in ("hold", "block"):
                _park(uow, msg, doc, "blocked" if decision.action == "block" else "held", decision.reason, actor)
                continue
            advance(msg, OutboxState.PENDING)
            msg.hold_reason, msg.last_error, msg.next_attempt_at = "", "", now
            msg.lease_owner, msg.lease_until = None, None
            record_audit(uow, actor=actor, action="delivery.release", entity="outbox_message", entity_id=msg.id,
                         patient_id=doc.patient_id, detail={"destination": msg.destination, "kind": msg.kind})
            released += 1
        uow.commit()
    return released


# ----------------------------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class _Prepared:
    action: str
    destination: str = ""
    kind: str = SUBMIT
    submission: Submission | None = None
    unique_id: str = ""
    visible: bool | None = None
    masked: bool | None = None
    hidden_from_representatives: bool | None = None
    codes: tuple[str, ...] = ()  # extra confidentiality after this send


def _prepare(db: Database, *, msg_id: str, owner: str, now: datetime, lease_s: int,
             transports: Mapping[str, Transport],
             allows: Callable[[str], bool] = lambda _destination: True) -> _Prepared | None:
    """Renew our lease, check consent and identity, freeze the confidentiality codes (first attempt) and
    build what to send, in a transaction of its own. None when the lease was lost; action `skipped` (lease
    released) when the destination's circuit is open."""
    with _write_uow(db) as uow:
        prep = _prepare_in(uow, msg_id=msg_id, owner=owner, now=now, lease_s=lease_s, transports=transports,
                           allows=allows)
        uow.commit()
    return prep


def _prepare_in(uow: UnitOfWork, *, msg_id: str, owner: str, now: datetime, lease_s: int,
                transports: Mapping[str, Transport], allows: Callable[[str], bool]) -> _Prepared | None:
    """`_prepare` inside the caller's write transaction (the caller commits)."""
    s = uow.session
    res = s.execute(update(OM).where(OM.id == msg_id, OM.lease_owner == owner, OM.state == OutboxState.PENDING)
                    .values(lease_until=now + timedelta(seconds=lease_s)))
    if _rowcount(res) != 1:
        return None
    msg = s.get(OM, msg_id)
    assert msg is not None
    if not allows(msg.destination):
        msg.lease_owner, msg.lease_until = None, None
        return _Prepared("skipped", msg.destination, msg.kind)
    # the previous message's finish, in this transaction, may have loaded the same document without its
    # content (raiseload): flush its changes, then read the whole row
    s.flush()
    doc = s.get(m.Document, msg.document_id, populate_existing=True)
    assert doc is not None
    patient = s.get(m.Patient, doc.patient_id)
    assert patient is not None
    transport = transports.get(msg.destination)
    decision = _gate(s, msg, doc, patient, transport, now)
    if decision.action in ("hold", "block"):
        _park(uow, msg, doc, "blocked" if decision.action == "block" else "held", decision.reason, "dispatcher")
        return _Prepared("blocked" if decision.action == "block" else "held", msg.destination, msg.kind)
    if decision.action == "wait":
        assert decision.until is not None
        msg.next_attempt_at, msg.lease_owner, msg.lease_until = decision.until, None, None
        return _Prepared("wait", msg.destination, msg.kind)
    if decision.action == "done":
        advance(msg, OutboxState.DELIVERED)
        msg.delivered_at, msg.last_error, msg.hold_reason = now, decision.reason, ""
        msg.lease_owner, msg.lease_until = None, None
        return _Prepared("done", msg.destination, msg.kind)
    if msg.kind == METADATA_UPDATE:
        return _Prepared("send", msg.destination, METADATA_UPDATE, unique_id=doc.unique_id,
                         visible=decision.visible, masked=decision.masked,
                         hidden_from_representatives=decision.hidden_from_representatives,
                         codes=desired_confidentiality(doc, patient))
    if msg.confidentiality is None:  # first attempt: every retry sends exactly these codes
        msg.confidentiality = " ".join(desired_confidentiality(doc, patient))
    replaces = s.get(m.Document, doc.replaces_id) if doc.replaces_id else None
    submission = Submission(unique_id=doc.unique_id, cda=doc.cda, pdf=doc.pdf, kind=doc.kind,
                            extra_confidentiality=_codes(msg.confidentiality),
                            replaces_unique_id=replaces.unique_id if replaces else None)
    return _Prepared("send", msg.destination, SUBMIT, submission=submission, unique_id=doc.unique_id)


def _send_update(transport: Transport, prep: _Prepared) -> SubmitOutcome | None:
    if not isinstance(transport, NationalRecord):  # the gate holds such updates; a changed mapping lands here
        raise DeliveryError(_reason_unsupported(prep.destination, "visibilité ou masquage"), permanent=True,
                            error_code="mise_a_jour_non_prise_en_charge")
    result: SubmitOutcome | None = None
    if prep.visible is not None:
        result = transport.update_visibility(prep.unique_id, prep.visible)
    if prep.masked is not None:
        result = transport.update_masking(prep.unique_id, prep.masked)
    if prep.hidden_from_representatives is not None:
        result = transport.update_legal_representatives_visibility(prep.unique_id, prep.hidden_from_representatives)
    return result


def _finish(db: Database, *, msg_id: str, owner: str, outcome: str, status_code: int | None, error_code: str,
            excerpt: str, policy: RetryPolicy, retry_after: float | None, rng: random.Random,
            clock: Callable[[], datetime], started_at: datetime | None = None,
            codes: tuple[str, ...] | None = None, then: Callable[[UnitOfWork], None] | None = None) -> str:
    """Record the attempt and the new state, if we still hold the lease. Returns the new state.

    `then(uow)` runs in the same transaction before it commits: the dispatcher prepares its next message
    there (lease renewed, consent and identity checked, codes frozen), one transaction per message instead
    of two, the checks still made just before that message is sent."""
    with _write_uow(db) as uow:
        s = uow.session
        msg = s.get(OM, msg_id, with_for_update=True)
        assert msg is not None
        now = clock()
        if retry_after is not None and outcome == "transient":
            excerpt = f"{excerpt} [Retry-After : {retry_after:g} s]"
        s.add(m.DeliveryAttempt(message_id=msg.id, destination=msg.destination, at=now, outcome=outcome,
                                status_code=status_code, error_code=error_code[:80], excerpt=excerpt[:2000],
                                owner=owner, started_at=started_at))
        if msg.lease_owner != owner or msg.state != OutboxState.PENDING:
            if then is not None:
                then(uow)
            uow.commit()  # lost the lease: keep the attempt row, leave the state to the new owner
            return msg.state
        msg.attempts += 1
        msg.lease_owner, msg.lease_until = None, None
        doc = repo.document_without_content(s, msg.document_id)
        assert doc is not None
        if outcome == "delivered":
            advance(msg, OutboxState.DELIVERED)
            msg.delivered_at, msg.last_error = now, ""
            if msg.kind == SUBMIT:
                # the document's status follows the national record (a mail to the correspondents, often
                # faster, does not make it "delivered" while the DMP submission is still pending)
                if doc.status == "signed" and msg.destination.startswith(DMP_PREFIX):
                    advance(doc, DocumentStatus.DELIVERED)
                record_audit(uow, actor="dispatcher", action="document.deliver", entity="document",
                             entity_id=doc.id, patient_id=doc.patient_id, detail={"destination": msg.destination})
            else:
                submit = _submit_message(s, msg)
                if submit is not None and codes is not None:
                    submit.confidentiality = " ".join(codes)  # what the national record now holds
                record_audit(uow, actor="dispatcher", action="document.metadata_update", entity="document",
                             entity_id=doc.id, patient_id=doc.patient_id,
                             detail={"destination": msg.destination, "confidentiality": list(codes or ())})
        elif outcome == "permanent" or msg.attempts >= policy.max_attempts:
            advance(msg, OutboxState.DEAD)
            msg.last_error = excerpt[:2000]
            record_audit(uow, actor="dispatcher", action="delivery.dead", entity="outbox_message",
                         entity_id=msg.id, patient_id=doc.patient_id,
                         detail={"destination": msg.destination, "kind": msg.kind, "error_code": error_code,
                                 "attempts": msg.attempts})
        else:
            msg.last_error = excerpt[:2000]
            msg.next_attempt_at = now + timedelta(seconds=policy.delay(msg.attempts, retry_after, rng))
        if then is not None:
            then(uow)
        uow.commit()
        log.info("delivery.attempt", message_id=msg.id, document_id=msg.document_id,
                 destination=msg.destination, kind=msg.kind,
                 outcome=outcome, status_code=status_code, error_code=error_code, attempts=msg.attempts,
                 state=msg.state)
        return msg.state


def _prepare_next(carried: dict[str, _Prepared | None], msg_id: str, *, owner: str,
                  clock: Callable[[], datetime], lease_s: int, transports: Mapping[str, Transport],
                  allows: Callable[[str], bool]) -> Callable[[UnitOfWork], None]:
    """What a message's finish does last in its transaction: prepare the next claimed message."""
    def then(uow: UnitOfWork) -> None:
        carried[msg_id] = _prepare_in(uow, msg_id=msg_id, owner=owner, now=clock(), lease_s=lease_s,
                                      transports=transports, allows=allows)
    return then


def dispatch_pending(db: Database, *, transports: Mapping[str, Transport], policy: RetryPolicy | None = None,
                     owner: str | None = None, batch: int = 20, until_idle: bool = True,
                     max_seconds: float = 120.0, breaker: CircuitBreaker | None = None,
                     clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                     sleep: Callable[[float], None] = time.sleep, seed: int | None = None,
                     probe: Callable[[str, str], None] | None = None,
                     only_destinations: frozenset[str] | None = None) -> DispatchStats:
    """Deliver due messages. With `until_idle`, keep going (sleeping until the next due retry) until no
    pending message is left or `max_seconds` have passed. Held messages are re-checked on every pass. With
    `only_destinations`, only those destinations' messages are claimed and re-checked (a dispatcher scoped to
    its host's regions leaves the others' to theirs).

    `probe(point, message_id)` is called at the crash points of PROBE_POINTS (tests only)."""
    policy = policy or RetryPolicy()
    owner = owner or f"dispatcher-{uuid.uuid4().hex[:8]}"
    breaker = breaker or CircuitBreaker(monotonic=lambda: clock().timestamp())
    rng = random.Random(seed)
    stats = DispatchStats()
    started = time.monotonic()
    stats.released += release_held(db, transports=transports, now=clock(), only_destinations=only_destinations)
    while True:
        now = clock()
        closed = frozenset(dst for dst in transports if not breaker.allows(dst))
        ids = claim(db, owner=owner, now=now, limit=batch, lease_s=policy.lease_s, skip_destinations=closed,
                    only_destinations=only_destinations)
        carried: dict[str, _Prepared | None] = {}  # the next message, prepared in this one's finish
        for i, msg_id in enumerate(ids):
            if probe:
                probe("after_claim", msg_id)
            if msg_id in carried:
                prep = carried.pop(msg_id)
            else:
                prep = _prepare(db, msg_id=msg_id, owner=owner, now=clock(), lease_s=policy.lease_s,
                                transports=transports, allows=breaker.allows)
            then = _prepare_next(carried, ids[i + 1], owner=owner, clock=clock, lease_s=policy.lease_s,
                                 transports=transports, allows=breaker.allows) if i + 1 < len(ids) else None
            if prep is None:
                stats.lost_leases += 1
                continue
            if prep.action == "skipped":
                stats.skipped_open_circuit += 1
                continue
            if prep.action != "send":
                stats.held += prep.action == "held"
                stats.blocked += prep.action == "blocked"
                continue
            destination = prep.destination
            transport = transports.get(destination)
            stats.attempts += 1
            stats.metadata_updates += prep.kind == METADATA_UPDATE
            sent_at = clock()
            if transport is None:
                _finish(db, msg_id=msg_id, owner=owner, outcome="permanent", status_code=None,
                        error_code="destination_inconnue", excerpt=f"Destination inconnue : {destination}",
                        policy=policy, retry_after=None, rng=rng, clock=clock, started_at=sent_at, then=then)
                stats.dead += 1
                continue
            try:
                result: SubmitOutcome | None
                if prep.kind == SUBMIT:
                    assert prep.submission is not None
                    result = transport.submit(prep.submission)
                else:
                    result = _send_update(transport, prep)
            except DeliveryError as exc:
                outcome = "permanent" if exc.permanent else "transient"
                if not exc.permanent:
                    breaker.failure(destination)
                if probe:
                    probe("after_send", msg_id)
                state = _finish(db, msg_id=msg_id, owner=owner, outcome=outcome, status_code=exc.status,
                                error_code=exc.error_code, excerpt=exc.message, policy=policy,
                                retry_after=exc.retry_after, rng=rng, clock=clock, started_at=sent_at, then=then)
                if state == "dead":
                    stats.dead += 1
                else:
                    stats.retried += 1
                if probe:
                    probe("after_commit", msg_id)
                continue
            except Exception as exc:  # a transport bug must not leave the lease hanging: transient, recorded
                log.exception("delivery.transport_error", message_id=msg_id, destination=destination)
                breaker.failure(destination)
                state = _finish(db, msg_id=msg_id, owner=owner, outcome="transient", status_code=None,
                                error_code="erreur_interne", excerpt=f"Erreur interne d'envoi : {exc!r}",
                                policy=policy, retry_after=None, rng=rng, clock=clock, started_at=sent_at, then=then)
                stats.dead += state == "dead"
                stats.retried += state != "dead"
                continue
            if probe:
                probe("after_send", msg_id)
            breaker.success(destination)
            _finish(db, msg_id=msg_id, owner=owner, outcome="delivered",
                    status_code=result.status_code if result else None, error_code="",
                    excerpt=(result.excerpt or "") if result else "", policy=policy, retry_after=None, rng=rng,
                    clock=clock, started_at=sent_at, codes=prep.codes if prep.kind == METADATA_UPDATE else None,
                    then=then)
            stats.delivered += 1
            if probe:
                probe("after_commit", msg_id)
        if ids:
            continue
        stats.released += release_held(db, transports=transports, now=clock(), only_destinations=only_destinations)
        if not until_idle or time.monotonic() - started > max_seconds:
            return stats
        next_due = _next_due(db, exclude=closed, only=only_destinations)
        reopen = breaker.reopens_in(closed) if closed else None
        if next_due is None and reopen is None:
            return stats  # nothing pending (held and blocked messages wait for a cause to go away)
        waits = [w for w in ((next_due - clock()).total_seconds() if next_due else None, reopen) if w is not None]
        sleep(min(max(min(waits), 0.05), 2.0))


def _next_due(db: Database, exclude: frozenset[str] = frozenset(),
              only: frozenset[str] | None = None) -> datetime | None:
    with db.uow() as uow:
        q = select(OM.next_attempt_at).where(OM.state == OutboxState.PENDING)
        if only is not None:
            q = q.where(OM.destination.in_(sorted(only)))
        if exclude:
            q = q.where(OM.destination.not_in(list(exclude)))
        return uow.session.scalars(q.order_by(OM.next_attempt_at).limit(1)).first()


def requeue(uow: UnitOfWork, *, message_id: str, actor: str, now: datetime | None = None) -> None:
    """A coordinator requeues a dead letter after fixing its cause (audited)."""
    from dcc.errors import Conflict, NotFound

    msg = uow.session.get(OM, message_id)
    if msg is None:
        raise NotFound(f"Envoi « {message_id} » introuvable.")
    if msg.state != OutboxState.DEAD:
        raise Conflict("Seul un envoi en échec définitif (lettre morte) peut être relancé.")
    doc = uow.session.get(m.Document, msg.document_id)
    advance(msg, OutboxState.PENDING)
    msg.attempts, msg.next_attempt_at = 0, now or datetime.now(UTC)
    msg.lease_owner, msg.lease_until, msg.hold_reason = None, None, ""
    record_audit(uow, actor=actor, action="delivery.requeue", entity="outbox_message", entity_id=message_id,
                 patient_id=doc.patient_id if doc else None,
                 detail={"destination": msg.destination, "kind": msg.kind, "last_error": msg.last_error[:500]})
    uow.commit()
