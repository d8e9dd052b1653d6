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
