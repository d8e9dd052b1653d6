"""Indicators flow: recompute the network's monthly indicators (one row per board × month) every night."""

from __future__ import annotations

from datetime import date

from prefect import flow, task

from dcc.bootstrap import database
from dcc.domain.clock import now_utc, paris_day
from dcc.services import indicator_table
from flows.hooks import HOOKS


@task
def compute_month_task(month: date) -> int:
    with database().uow() as uow:
        return indicator_table.refresh_month(uow, month)


@flow(name="compute_indicators", **HOOKS)
def compute_indicators(months_back: int = 12, today: date | None = None) -> dict[str, int]:
    """Recompute the current month (Europe/Paris) and the `months_back` before it: a first-treatment date
    entered late changes a past month. Idempotent: each month's rows are replaced."""
    months = indicator_table.months_to_refresh(today or paris_day(now_utc()), months_back)
    return {month.isoformat(): compute_month_task(month) for month in months}
