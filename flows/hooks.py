"""State hooks of every flow: record each finished run in dcc's database (audit action `flow.run`), so that
`/metrics` reports flow runs without querying Prefect. Never raises: a monitoring record must not fail a flow."""

from __future__ import annotations

from typing import Any

from dcc.bootstrap import database
from dcc.logging import get_logger
from dcc.services.audit import record_audit

log = get_logger(__name__)


def _timing(flow_run: Any, state: Any) -> dict[str, Any]:
    """Start, end and duration of the run as far as the hook can see them (the monitors' flow runs page)."""
    start = getattr(flow_run, "start_time", None)
    end = getattr(state, "timestamp", None)
    out: dict[str, Any] = {}
    if start is not None:
        out["started_at"] = start.isoformat()
    if end is not None:
        out["ended_at"] = end.isoformat()
    if start is not None and end is not None:
        out["duration_s"] = round((end - start).total_seconds(), 3)
    return out


def _counts(state: Any, outcome: str) -> dict[str, int]:
    """The counts the flow returned (an int, a list, a dict or dataclass of ints), when its result is at hand."""
    from dcc.services.flow_runs import counts_of

    if outcome != "succes":
        return {}
    try:
        return counts_of(state.result(raise_on_failure=False))
    except Exception:  # a result not kept in memory nor persisted: no counts, never a failed hook
        return {}


def _record(flow: Any, flow_run: Any, state: Any, outcome: str) -> None:
    try:
        with database().uow() as uow:
            record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id=str(flow.name),
                         detail={"outcome": outcome, "flow_run_id": str(getattr(flow_run, "id", "")),
                                 "state": str(getattr(state, "name", "")), **_timing(flow_run, state),
                                 "counts": _counts(state, outcome)})
            uow.commit()
    except Exception:
        log.exception("flow.run not recorded", flow=str(getattr(flow, "name", "")))


def on_completion(flow: Any, flow_run: Any, state: Any) -> None:
    _record(flow, flow_run, state, "succes")


def on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    _record(flow, flow_run, state, "echec")


HOOKS: dict[str, Any] = {"on_completion": [on_completion], "on_failure": [on_failure]}
