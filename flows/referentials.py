"""Referentials flow: import the new versions dropped in the configured folder (DCC_REFERENTIALS_DIR)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, task

from dcc.bootstrap import database
from dcc.config import get_settings
from dcc.errors import ValidationFailed
from dcc.services import referentials
from flows.hooks import HOOKS


@task
def refresh_referentials_task(folder: str, today: date) -> dict[str, object]:
    summary = referentials.refresh_folder(database().uow, Path(folder), actor="prefect", today=today)
    return {"imported": [r.summary() for r in summary.reports if r.status != "inchange"],
            "unchanged": sum(1 for r in summary.reports if r.status == "inchange"), "errors": summary.errors}


@flow(name="refresh_referentials", **HOOKS)
def refresh_referentials(folder: str | None = None, today: date | None = None) -> dict[str, object]:
    """Import the referential files of `folder` (default DCC_REFERENTIALS_DIR) not imported yet; fails when a
    file is refused (the others are imported), so the monitors see it in the flow runs."""
    where = folder or (str(get_settings().referentials_dir) if get_settings().referentials_dir else "")
    if not where:
        return {"imported": [], "unchanged": 0, "errors": [], "skipped": "DCC_REFERENTIALS_DIR non configuré"}
    result = refresh_referentials_task(where, today or date.today())
    if result["errors"]:
        raise ValidationFailed("Référentiels refusés : " + " ; ".join(result["errors"]))  # type: ignore[arg-type]
    return result
