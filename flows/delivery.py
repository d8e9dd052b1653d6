"""Delivery flows: drain the outbox (our database holds the state) and reclaim the leases of dead runs. Each
dispatch run publishes a table artifact: its counts and its failures with their French reasons (ids only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task

from dcc.adapters import orchestration
from dcc.bootstrap import database, delivery_transports
from dcc.config import get_settings
from dcc.logging import get_logger
from dcc.services import delivery, generation
from flows.artifacts import publish_table
from flows.hooks import HOOKS

log = get_logger(__name__)
ARTIFACT_KEY = "distribution-envois"
LABELS = {"delivered": "envois remis", "retried": "échecs, nouvel essai prévu", "dead": "lettres mortes",
          "attempts": "tentatives", "held": "envois en attente d'une condition", "blocked": "envois bloqués",
          "lost_leases": "baux perdus"}


@task
def dispatch_task(max_seconds: float, regions: list[str] | None = None) -> dict[str, Any]:
    settings = get_settings()
    db = database()
    scope = frozenset(regions) if regions is not None else None
    transports = delivery_transports(db, settings, regions=scope)
    only = delivery.region_destinations(scope) if scope is not None else None
    policy = delivery.RetryPolicy(max_attempts=settings.outbox_max_attempts, base_s=settings.outbox_backoff_base_s,
                                  max_s=settings.outbox_backoff_max_s, lease_s=settings.outbox_lease_s)
    owner = orchestration.lease_owner() or f"dispatcher-{uuid.uuid4().hex[:8]}"
    try:
        stats = delivery.dispatch_pending(db, transports=transports, policy=policy, max_seconds=max_seconds,
                                          owner=owner, only_destinations=only)
    finally:
        for t in transports.values():
            close = getattr(t, "close", None)
            if close:
                close()
    with db.uow() as uow:
        failures = delivery.failures_of(uow, owner)
    return {"counts": {"delivered": stats.delivered, "retried": stats.retried, "dead": stats.dead,
                       "attempts": stats.attempts, "held": stats.held, "blocked": stats.blocked,
                       "lost_leases": stats.lost_leases},
            "failures": failures}


def artifact_rows(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"résultat": LABELS.get(k, k), "nombre": n, "envoi": "", "destination": "",
                                   "motif": ""} for k, n in outcome["counts"].items()]
    rows += [{"résultat": f["etat"], "nombre": 1, "envoi": f["message_id"], "destination": f["destination"],
              "motif": f["motif"]} for f in outcome["failures"]]
    return rows


def publish_artifact(outcome: dict[str, Any]) -> str | None:
    """The run's table artifact (versioned under ARTIFACT_KEY); a failure to publish is logged, not raised."""
    return publish_table(
        ARTIFACT_KEY, artifact_rows(outcome), log=log, event="delivery.artifact_not_published",
        description="Distribution des documents signés (DMP, MSSanté) : compteurs et échecs (motifs en français).")


@flow(name="distribute_pending", **HOOKS)
def distribute_pending(max_seconds: float = 120.0, regions: list[str] | None = None) -> dict[str, int]:
    """Deliver every due outbox message (scheduled every minute, and triggered by signatures); with `regions`
    (region codes), only those regions' messages, for a deployment on a work queue whose workers alone hold
    those regions' certificates and seal keys (deploy/README.md, "One queue per region")."""
    outcome = dispatch_task(max_seconds, regions)
    publish_artifact(outcome)
    return {k: int(outcome["counts"][k]) for k in ("delivered", "retried", "dead", "attempts")}


@task
def reconcile_task() -> dict[str, int]:
    db = database()
    owners = orchestration.crashed_lease_owners()
    released = {"generation": generation.release_leases_of(db, owners),
                "outbox": delivery.release_leases_of(db, owners)}
    expired = delivery.reconcile_leases(db, now=datetime.now(UTC))
    released["outbox"] += expired
    released["generation"] += generation.reclaim_expired_leases(db)
    for kind, count in released.items():
        orchestration.emit_leases_released(kind, count)
    return released


@flow(name="reconcile_leases", **HOOKS)
def reconcile_leases() -> dict[str, int]:
    """Release the leases of runs that died mid-flight (crashed runs at once, the others when expired) and
    have the drains run again now."""
    return reconcile_task()
