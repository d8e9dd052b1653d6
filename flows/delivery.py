"""Delivery flows: drain the outbox (our database holds the state) and reclaim expired leases."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, task

from dcc.bootstrap import database, delivery_transports
from dcc.config import get_settings
from dcc.services import delivery
from flows.hooks import HOOKS


@task
def dispatch_task(max_seconds: float) -> dict[str, int]:
    settings = get_settings()
    db = database()
    transports = delivery_transports(db, settings)
    policy = delivery.RetryPolicy(max_attempts=settings.outbox_max_attempts, base_s=settings.outbox_backoff_base_s,
                                  max_s=settings.outbox_backoff_max_s, lease_s=settings.outbox_lease_s)
    try:
        stats = delivery.dispatch_pending(db, transports=transports, policy=policy, max_seconds=max_seconds)
    finally:
        for t in transports.values():
            close = getattr(t, "close", None)
            if close:
                close()
    return {"delivered": stats.delivered, "retried": stats.retried, "dead": stats.dead, "attempts": stats.attempts}


@flow(name="distribute_pending", **HOOKS)
def distribute_pending(max_seconds: float = 120.0) -> dict[str, int]:
    """Deliver every due outbox message (scheduled every minute, and triggered by signatures)."""
    return dispatch_task(max_seconds)


@task
def reconcile_task() -> int:
    return delivery.reconcile_leases(database(), now=datetime.now(UTC))


@flow(name="reconcile_leases", **HOOKS)
def reconcile_leases() -> int:
    """Release leases of dispatchers that died mid-flight."""
    return reconcile_task()
