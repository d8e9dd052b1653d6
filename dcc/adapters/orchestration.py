"""Tell the orchestrator that documents were signed, so the `distribute_pending` deployment runs at once
(deploy/prefect.yaml triggers it on the `dcc.documents.signed` event) instead of at its next minute.

Best effort by design: the outbox already holds the messages, so a missed event only delays delivery to
the next scheduled run. Only ids go into the event, never patient data."""

from __future__ import annotations

import os

from dcc.logging import get_logger

log = get_logger(__name__)
SIGNED_EVENT = "dcc.documents.signed"


def emit_documents_signed(document_ids: list[str]) -> bool:
    """Emit the event when a Prefect server is configured (PREFECT_API_URL); returns whether it was handed to
    Prefect's events worker (which sends it in the background, and only logs when the server is down)."""
    if not document_ids or not os.environ.get("PREFECT_API_URL"):
        return False
    try:
        from prefect.events import emit_event

        emit_event(event=SIGNED_EVENT, resource={"prefect.resource.id": "dcc.outbox"},
                   payload={"document_ids": document_ids})
    except Exception:  # the scheduled run delivers anyway
        log.warning("orchestration.event_not_sent", event_name=SIGNED_EVENT, documents=len(document_ids))
        return False
    return True


VALIDATED_EVENT = "dcc.session.validated"


def emit_session_validated(session_id: str, due: int) -> bool:
    """After a validation's commit: ask the `generate-pending-documents` deployment to run now (deploy/prefect.yaml
    triggers it on this event). Best effort: the "documents due" rows are already committed and the scheduled
    run drains them if the event is lost. Only ids and a count go into the event."""
    if not due or not os.environ.get("PREFECT_API_URL"):
        return False
    try:
        from prefect.events import emit_event

        emit_event(event=VALIDATED_EVENT, resource={"prefect.resource.id": "dcc.generation"},
                   payload={"session_id": session_id, "documents_due": due})
    except Exception:  # the scheduled run generates anyway
        log.warning("orchestration.event_not_sent", event_name=VALIDATED_EVENT, session_id=session_id)
        return False
    return True


# --------------------------------------------------------------------------------- leases of flow runs

LEASE_OWNER_PREFIX = "flow-run-"
RELEASED_EVENTS = {"generation": ("dcc.generation.released", "dcc.generation"),
                   "outbox": ("dcc.outbox.released", "dcc.outbox")}


def lease_owner() -> str | None:
    """The lease owner a drain running in a Prefect flow run takes: the run's id, so that leases of a run Prefect
    marks crashed can be released at once (`crashed_lease_owners`). None outside a flow run."""
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return f"{LEASE_OWNER_PREFIX}{run_id}" if run_id else None


def crashed_lease_owners(hours: int = 24, limit: int = 200) -> list[str]:
    """Lease owners of the flow runs Prefect marked CRASHED in the last `hours` (deploy/automations.yaml marks
    a run whose heartbeats stopped), newest first."""
    from datetime import UTC, datetime, timedelta

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    since = datetime.now(UTC) - timedelta(hours=hours)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CRASHED])),
                start_time=FlowRunFilterStartTime(after_=since)),
            sort=FlowRunSort.START_TIME_DESC, limit=limit)
    return [f"{LEASE_OWNER_PREFIX}{r.id}" for r in runs]


def emit_leases_released(kind: str, count: int) -> bool:
    """After releasing a crashed run's leases: run the drain of that kind now (deploy/prefect.yaml triggers
    `generate-pending-documents` and `distribute-pending` on these events). Best effort, as the others."""
    if not count or not os.environ.get("PREFECT_API_URL"):
        return False
    event, resource = RELEASED_EVENTS[kind]
    try:
        from prefect.events import emit_event

        emit_event(event=event, resource={"prefect.resource.id": resource}, payload={"released": count})
    except Exception:
        log.warning("orchestration.event_not_sent", event_name=event, released=count)
        return False
    return True
