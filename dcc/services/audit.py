"""Append-only, hash-chained audit log. If the entry cannot be written, the action fails with it
(same transaction).

Each entry's hash covers its content and the previous entry's hash. A single-row `audit_head` (last id,
last hash, count) is updated in the same transaction as every append: it serialises writers (the row is
locked until commit, so two transactions never chain on the same predecessor) and lets `verify_chain` detect
a truncated tail, which a chain alone cannot. The database refuses UPDATE and DELETE on `audit_event`
(migration 0003): tampering needs the table owner's rights, and is then detected here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.adapters.db.guards import DETAIL_KEYS
from dcc.services.uow import UnitOfWork

HEAD_ID = 1


def _entry_hash(prev: str, ev: m.AuditEvent) -> str:
    payload = json.dumps(
        {"prev": prev, "at": ev.at.isoformat(), "actor": ev.actor, "action": ev.action, "entity": ev.entity,
         "entity_id": ev.entity_id, "patient_id": ev.patient_id, "detail": ev.detail},
        sort_keys=True, ensure_ascii=False, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _locked_head(uow: UnitOfWork) -> m.AuditHead:
    """The head row, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite has a single writer)."""
    head = uow.session.scalars(select(m.AuditHead).where(m.AuditHead.id == HEAD_ID).with_for_update()).one_or_none()
    if head is None:
        last = repo.last_audit_event(uow.session)
        count = len(repo.audit_events(uow.session)) if last else 0
        head = m.AuditHead(id=HEAD_ID, last_id=last.id if last else 0, last_hash=last.hash if last else "",
                           count=count)
        uow.session.add(head)
        uow.session.flush()
    return head


def record_audit(uow: UnitOfWork, *, actor: str, action: str, entity: str, entity_id: str,
                 patient_id: str | None = None, detail: dict[str, Any] | None = None) -> m.AuditEvent:
    head = _locked_head(uow)
    prev = head.last_hash  # the head is locked and always moves with the last entry
    ev = m.AuditEvent(actor=actor, action=action, entity=entity, entity_id=entity_id, patient_id=patient_id,
                      detail=detail or {}, prev_hash=prev, at=m.utcnow())
    ev.hash = _entry_hash(prev, ev)
    uow.session.add(ev)
    uow.session.flush()
    head.last_id = ev.id
    head.last_hash = ev.hash
    head.count = head.count + 1
    uow.session.flush()
    return ev


def record_refused_changes(engine: Engine, actor: str, attempts: list[dict[str, Any]]) -> None:
    """One audit entry per refused change of a signed document, in a transaction of its own (the refused
    one was rolled back). dcc.bootstrap wires this as the ORM guard's refusal recorder."""
    with UnitOfWork(lambda: Session(engine)) as uow:
        for a in attempts:
            record_audit(uow, actor=actor, action="document.immutable_refused", entity="document",
                         entity_id=a["document_id"] or "?", patient_id=a["patient_id"],
                         detail={k: a[k] for k in DETAIL_KEYS})
        uow.commit()


def verify_chain(uow: UnitOfWork) -> list[str]:
    """French descriptions of every break in the chain (empty when intact)."""
    problems: list[str] = []
    prev = ""
    events = repo.audit_events(uow.session)
    for ev in events:
        if ev.prev_hash != prev:
            problems.append(f"Entrée {ev.id} : chaînage rompu (entrée précédente modifiée, supprimée ou déplacée).")
        if _entry_hash(ev.prev_hash, ev) != ev.hash:
            problems.append(f"Entrée {ev.id} : contenu modifié.")
        prev = ev.hash
    head = uow.session.get(m.AuditHead, HEAD_ID)
    if head is not None:
        last = events[-1] if events else None
        if len(events) != head.count:
            problems.append(f"Le journal compte {len(events)} entrée(s) alors que {head.count} ont été écrites "
                            "(entrées supprimées, en fin de journal ou ailleurs).")
        if (last.id if last else 0) != head.last_id or (last.hash if last else "") != head.last_hash:
            problems.append(f"La dernière entrée ne correspond pas à la tête du journal (entrée {head.last_id} "
                            "attendue) : journal tronqué ou dernière entrée modifiée.")
    return problems
