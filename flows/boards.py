"""Board flows: plan sessions (rolling horizon), register the demo's cases, assign pending cases."""

from __future__ import annotations

from datetime import date

from prefect import flow, task

from dcc.bootstrap import database
from dcc.services import boards as board_services
from dcc.services import demo as demo_services
from flows.hooks import HOOKS


@task
def plan_sessions_task(horizon_weeks: int, today: date) -> int:
    with database().uow() as uow:
        return board_services.plan_sessions(uow, today=today, horizon_weeks=horizon_weeks)


@flow(name="plan_sessions", **HOOKS)
def plan_sessions(horizon_weeks: int = 8, today: date | None = None) -> int:
    """Keep every board's sessions planned `horizon_weeks` ahead (idempotent)."""
    return plan_sessions_task(horizon_weeks, today or date.today())


@task
def register_demo_cases_task(patient_ids: list[str], seed: int, today: date) -> list[str]:
    return demo_services.register_demo_cases(database(), patient_ids=patient_ids, seed=seed, today=today)


@flow(name="register_demo_cases", **HOOKS)
def register_demo_cases(patient_ids: list[str], seed: int = 1, today: date | None = None) -> list[str]:
    return register_demo_cases_task(patient_ids, seed, today or date.today())


@task
def assign_cases_task(today: date) -> dict[str, object]:
    with database().uow() as uow:
        summary = board_services.assign_cases(uow, today=today)
    return {"assigned": summary.assigned, "unassigned": summary.unassigned, "objective": summary.objective}


@flow(name="assign_cases", **HOOKS)
def assign_cases(today: date | None = None) -> dict[str, object]:
    """Assign every pending case to a session of its board (min-cost flow)."""
    return assign_cases_task(today or date.today())
