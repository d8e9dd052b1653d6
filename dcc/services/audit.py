"""Append-only, hash-chained audit log. If the entry cannot be written, the action fails with it
(same transaction)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.services.uow import UnitOfWork


def _entry_hash(prev: str, ev: m.AuditEvent) -> str:
    payload = json.dumps(
        {"prev": prev, "at": ev.at.isoformat(), "actor": ev.actor, "action": ev.action, "entity": ev.entity,
         "entity_id": ev.entity_id, "patient_id": ev.patient_id, "detail": ev.detail},
        sort_keys=True, ensure_ascii=False, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record_audit(uow: UnitOfWork, *, actor: str, action: str, entity: str, entity_id: str,
                 patient_id: str | None = None, detail: dict[str, Any] | None = None) -> m.AuditEvent:
    last = repo.last_audit_event(uow.session)
    prev = last.hash if last else ""
    ev = m.AuditEvent(actor=actor, action=action, entity=entity, entity_id=entity_id, patient_id=patient_id,
                      detail=detail or {}, prev_hash=prev, at=m.utcnow())
    ev.hash = _entry_hash(prev, ev)
    uow.session.add(ev)
    uow.session.flush()
    return ev


def verify_chain(uow: UnitOfWork) -> list[str]:
    """French descriptions of every break in the chain (empty when intact)."""
    problems: list[str] = []
    prev = ""
    for ev in repo.audit_events(uow.session):
        if ev.prev_hash != prev:
            problems.append(f"Entrée {ev.id} : chaînage rompu (entrée précédente modifiée, supprimée ou déplacée).")
        if _entry_hash(ev.prev_hash, ev) != ev.hash:
            problems.append(f"Entrée {ev.id} : contenu modifié.")
        prev = ev.hash
    return problems
