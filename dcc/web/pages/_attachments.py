"""What the coordinator's and the physician's attachment pages share."""

from __future__ import annotations

from typing import Any

from dcc.errors import NotFound
from dcc.services import attachments as service


def attachment_in_case(uow: Any, case_id: str, attachment_id: str) -> None:
    """404 unless the attachment belongs to the case in the URL (the case itself is scoped by the caller)."""
    try:
        owner = service.attachment_case_id(uow, attachment_id)
    except NotFound:
        owner = ""
    if owner != case_id:
        raise NotFound(f"Pièce jointe « {attachment_id} » introuvable.")
